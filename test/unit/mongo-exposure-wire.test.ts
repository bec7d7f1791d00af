import { describe, expect, it } from "vitest";
import { toKeyDoc } from "../../src/adapters/mongo/mongo-documents.js";
import { useMongoWireStub } from "../support/mongo-wire-fixture.js";
import { ROTATED_KEY } from "../support/rotation-keys.js";

/**
 * Issue 24: the exposure is stored by the one conditional write that revokes the key (atomic in
 * MongoDB: a single-document findAndModify), never by a second write, and reads back as the record.
 */
const stub = useMongoWireStub({ replicaSet: true });

const exposure = {
  type: "warpflow_api_key",
  source: "content",
  url: "https://github.com/octo/repo/blob/abc/.env",
  reportedAt: new Date("2026-02-22T14:30:00Z"),
};

describe("revokeKey with an exposure on the wire", () => {
  it("sends one findAndModify that matches a key not yet revoked and sets status, revokedBy and exposure together", async () => {
    const after = {
      ...toKeyDoc(ROTATED_KEY),
      status: "revoked",
      revokedAt: exposure.reportedAt,
      revokedBy: "system:secret-scanning",
      exposure,
    };
    stub.handle = ({ name }) =>
      name === "findAndModify" ? { lastErrorObject: { n: 1, updatedExisting: true }, value: after, ok: 1 } : undefined;
    const s = await stub.readyStore();
    const r = await s.revokeKey({
      tenantId: "acme",
      keyId: ROTATED_KEY.id,
      revokedAt: exposure.reportedAt,
      revokedBy: "system:secret-scanning",
      exposure,
    });
    const writes = stub.commands.filter((c) => ["findAndModify", "update", "insert"].includes(c.name));
    expect(writes).toHaveLength(1);
    const doc = writes[0]!.doc;
    expect(doc.query).toEqual({ _id: ROTATED_KEY.id, tenantId: "acme", status: { $ne: "revoked" } });
    expect(doc.update.$set).toEqual({
      status: "revoked",
      revokedAt: exposure.reportedAt,
      revokedBy: "system:secret-scanning",
      exposure,
    });
    expect(r!.exposure).toEqual(exposure);
  });
});
