import { BSON, type Document } from "mongodb";
import { describe, expect, it } from "vitest";
import { fromKeyDoc, fromSessionDoc, toKeyDoc, toSessionDoc } from "../../src/adapters/mongo/mongo-documents.js";
import { useMongoWireStub } from "../support/mongo-wire-fixture.js";
import { ROTATED_KEY, successorKey } from "../support/rotation-keys.js";

/**
 * Issue 22's fields in MongoDB documents, with the real driver against the scripted wire stub (no
 * mongod here; the contract suite's MongoDB leg runs the same cases against a real server): what
 * the adapter writes, and what it reads back.
 */
const stub = useMongoWireStub({ replicaSet: true });
const batch = (docs: Document[], ns: string) => ({ cursor: { id: BSON.Long.ZERO, ns, firstBatch: docs }, ok: 1 });

describe("scopes and allowlists in MongoDB documents (issue 22)", () => {
  it("maps the fields both ways under the records' own names, and omits them when absent", () => {
    const key = { ...ROTATED_KEY, scopes: ["a", "b:c"], allowedCidrs: ["10.0.0.0/8"] };
    expect(toKeyDoc(key)).toMatchObject({ scopes: ["a", "b:c"], allowedCidrs: ["10.0.0.0/8"] });
    expect(fromKeyDoc(toKeyDoc(key))).toEqual(key);
    expect(Object.keys(toKeyDoc(ROTATED_KEY))).not.toContain("scopes");
    expect(Object.keys(toKeyDoc(ROTATED_KEY))).not.toContain("allowedCidrs");
    // An old document (no fields) reads as unscoped, no allowlist; a null (never written) too.
    expect(fromKeyDoc({ ...toKeyDoc(ROTATED_KEY), scopes: null } as never)).toEqual(ROTATED_KEY);
    const session = {
      id: "ses_x",
      tenantId: "acme",
      tokenHash: "h",
      createdAt: new Date(0),
      expiresAt: new Date(1),
      createdBy: "k",
      scopes: ["r"],
    };
    expect(fromSessionDoc(toSessionDoc(session))).toEqual(session);
  });

  it("the rotation's insert carries the successor's scopes and allowlist; findKeyByHash reads them back", async () => {
    const old = { ...ROTATED_KEY, scopes: ["old"] };
    const successor = successorKey({ scopes: ["new:read"], allowedCidrs: ["2001:db8::/32"] });
    stub.handle = ({ name, doc }) => {
      if (name === "find") {
        const found = doc.filter?._id === old.id || doc.filter?.tokenHash === successor.tokenHash;
        const d = doc.filter?.tokenHash === successor.tokenHash ? toKeyDoc(successor, 1) : toKeyDoc(old, 0);
        return batch(found ? [d] : [], `wf.${doc.find}`);
      }
      if (name === "findAndModify")
        return { lastErrorObject: { n: 1, updatedExisting: true }, value: toKeyDoc(old, 0), ok: 1 };
      if (name === "insert") return { n: 1, ok: 1 };
      if (name === "commitTransaction") return { ok: 1 };
      return undefined;
    };
    const s = await stub.readyStore();
    const r = await s.rotateKey({
      tenantId: "acme",
      keyId: old.id,
      successor,
      revokeAt: new Date(1e12),
      maxActive: 3,
      maxDeprecated: 3,
      now: new Date(1),
    });
    expect(r.ok).toBe(true);
    const inserted = stub.commands.find((c) => c.name === "insert")!.doc.documents[0] as Document;
    expect([inserted.scopes, inserted.allowedCidrs]).toEqual([["new:read"], ["2001:db8::/32"]]);
    const found = await s.findKeyByHash(successor.tokenHash);
    expect([found?.scopes, found?.allowedCidrs]).toEqual([["new:read"], ["2001:db8::/32"]]);
  });
});
