import { describe, expect, it } from "vitest";
import type { AuditCompletion } from "../../src/domain/audit.js";
import type { AuditDraft, AuditTrail } from "../../src/domain/audit-trail.js";
import { DomainError } from "../../src/domain/errors.js";
import { createAuditedCall } from "../../src/service/audited-call.js";
import type { CallContext } from "../../src/transport/protocol/unary-handlers.js";

/** Records what the audited call hands the trail (the trail itself is tested in audit-trail.test.ts). */
function recordingTrail() {
  const recorded: { draft: AuditDraft; completion: AuditCompletion }[] = [];
  const trail = {
    record: async (draft: AuditDraft, completion: AuditCompletion) => {
      recorded.push({ draft, completion });
      return undefined as never;
    },
    begin: async (draft: AuditDraft) => ({
      complete: async (completion: AuditCompletion) => void recorded.push({ draft, completion }),
    }),
  } as unknown as AuditTrail;
  return { trail, recorded };
}

describe("audited call", () => {
  it("keeps the caller's address when the call's stream closes before its event is written", async () => {
    // As grpc-js: getPeer() answers "unknown" (peer undefined) once the stream has closed.
    let streamOpen = true;
    const ctx: CallContext = {
      bearer: undefined,
      get peer() {
        return streamOpen ? "10.1.2.3:4567" : undefined;
      },
      userAgent: "grpc-node-js/1.14",
      protocol: "grpc",
    };
    const { trail, recorded } = recordingTrail();
    const audited = createAuditedCall(trail);
    const refused = audited("keys.list", ctx, { tenantId: "acme" }, async () => {
      streamOpen = false; // the client cancels while the call is being authenticated
      throw new DomainError("permission_denied", "not allowed");
    });
    await expect(refused).rejects.toThrow("not allowed");
    expect(recorded).toHaveLength(1);
    expect(recorded[0]!.draft).toMatchObject({
      peer: "10.1.2.3:4567",
      userAgent: "grpc-node-js/1.14",
      protocol: "grpc",
      tenantId: "acme",
    });
    expect(recorded[0]!.completion).toMatchObject({ outcome: "failed", code: "PERMISSION_DENIED" });
  });

  it("every call refused before a change goes to the refusal windows (they keep a real caller's first refusals individual); a change that began and failed completes its own event", async () => {
    const ctx: CallContext = { bearer: "garbage", peer: "10.1.2.3:4567", userAgent: "x", protocol: "grpc" };
    const { trail, recorded } = recordingTrail();
    const counted: AuditDraft[] = [];
    const refusals = {
      refused: async (d: AuditDraft) => void counted.push(d),
      openWindows: () => 0,
      close: async () => undefined,
    };
    const audited = createAuditedCall(trail, refusals);
    const unauthenticated = audited("key.create", ctx, { tenantId: "acme" }, async () => {
      throw new DomainError("unauthenticated", "the bearer credential is not valid");
    });
    await expect(unauthenticated).rejects.toThrow("not valid");
    expect(counted).toHaveLength(1);
    expect(recorded).toHaveLength(0);
    const denied = audited("key.create", ctx, { tenantId: "acme" }, async (a) => {
      a.principal({ kind: "tenant_member", tenantId: "acme", actor: "key_member", via: "api_key" });
      throw new DomainError("permission_denied", "not allowed");
    });
    await expect(denied).rejects.toThrow("not allowed");
    expect(counted).toHaveLength(2);
    expect(counted[1]!.actor).toEqual({ kind: "api_key", id: "key_member", tenantId: "acme" });
    expect(recorded).toHaveLength(0);
    const begun = audited("key.create", ctx, { tenantId: "acme" }, async (a) => {
      a.principal({ kind: "platform_admin", actor: "key_admin" });
      await a.begin();
      throw new DomainError("resource_exhausted", "3 active keys");
    });
    await expect(begun).rejects.toThrow("3 active keys");
    expect(counted).toHaveLength(2); // not a refusal: its pending event is completed
    expect(recorded).toHaveLength(1);
    expect(recorded[0]!.completion).toMatchObject({ outcome: "failed", code: "RESOURCE_EXHAUSTED" });
  });
});
