import type { KeyRecord } from "../../src/domain/records.js";

/**
 * The key the MongoDB adapter's rotation tests rotate (tenant acme, active) and its successor:
 * the one copy for the wire and the scripted-collection tests.
 */
export const ROTATED_KEY: KeyRecord = {
  id: "key_OLDOLDOLDOLDOLDOLDOL",
  tenantId: "acme",
  label: "deploy",
  tokenHash: "h-old",
  hint: "wf_acme_...abcd",
  status: "active",
  createdAt: new Date(0),
  createdBy: "user:alice",
};

export const successorKey = (over: Partial<KeyRecord> = {}): KeyRecord => ({
  ...ROTATED_KEY,
  id: "key_NEWNEWNEWNEWNEWNEWNE",
  tokenHash: "h-new",
  hint: "wf_acme_...wxyz",
  ...over,
});
