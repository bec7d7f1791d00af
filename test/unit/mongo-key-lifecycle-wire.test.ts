// Issue 22 on MongoDB, with the real driver against the scripted wire stub (no mongod here): what
// suspend, resume, the expiry sweep and a partial policy write send (each one conditional write or
// one indexed read), and how the change feed reads a suspension and a resumption.
import { EventEmitter } from "node:events";
import { BSON, type Document } from "mongodb";
import { describe, expect, it } from "vitest";
import { createMongoChangeFeed } from "../../src/adapters/mongo/mongo-change-feed.js";
import { toKeyDoc } from "../../src/adapters/mongo/mongo-documents.js";
import type { StoreChange } from "../../src/ports/store-changes.js";
import { useMongoWireStub } from "../support/mongo-wire-fixture.js";
import { ROTATED_KEY } from "../support/rotation-keys.js";

const stub = useMongoWireStub({ replicaSet: true });
const key = ROTATED_KEY;
const sent = (name: string): Document[] => stub.commands.filter((c) => c.name === name).map((c) => c.doc);

describe("MongoDB: suspend, resume, the expiry sweep and partial policy writes on the wire (issue 22)", () => {
  it("suspends and resumes with one conditional findAndModify each (never a revoked key)", async () => {
    const suspendedAt = new Date(1e12);
    stub.handle = ({ name, doc }) =>
      name === "findAndModify"
        ? {
            lastErrorObject: { n: 1, updatedExisting: true },
            value: doc.update.$set ? { ...toKeyDoc(key, 0), suspendedAt, suspendedBy: "admin-1" } : toKeyDoc(key, 0),
            ok: 1,
          }
        : undefined;
    const s = await stub.readyStore();
    const after = await s.suspendKey({ tenantId: "acme", keyId: key.id, suspendedAt, suspendedBy: "admin-1" });
    expect(after).toMatchObject({ id: key.id, suspendedAt, suspendedBy: "admin-1" });
    expect(await s.resumeKey({ tenantId: "acme", keyId: key.id })).toEqual(key);
    const [suspend, resume] = sent("findAndModify");
    // Only an ACTIVE key: never a revoked one, nor one a racing rotation has just deprecated.
    expect(suspend!.query).toEqual({
      _id: key.id,
      tenantId: "acme",
      status: "active",
      suspendedAt: { $exists: false },
    });
    expect(suspend!.update).toEqual({ $set: { suspendedAt, suspendedBy: "admin-1" } });
    // A tenant admin's resume: never of the platform admin's suspension (inside the one write).
    expect(resume!.query).toEqual({
      _id: key.id,
      tenantId: "acme",
      status: { $ne: "revoked" },
      suspendedAt: { $exists: true },
      suspendedByPlatform: { $exists: false },
    });
    expect(resume!.update).toEqual({ $unset: { suspendedAt: "", suspendedBy: "", suspendedByPlatform: "" } });
    expect(sent("find")).toHaveLength(0); // matched: no second read
  });

  it("the platform admin's suspend takes over a tenant's suspension, and only its resume lifts one", async () => {
    const suspendedAt = new Date(1e12);
    stub.handle = ({ name }) =>
      name === "findAndModify"
        ? { lastErrorObject: { n: 1, updatedExisting: true }, value: toKeyDoc(key, 0), ok: 1 }
        : undefined;
    const s = await stub.readyStore();
    await s.suspendKey({ tenantId: "acme", keyId: key.id, suspendedAt, suspendedBy: "key_p", byPlatform: true });
    await s.resumeKey({ tenantId: "acme", keyId: key.id, byPlatform: true });
    const [suspend, resume] = sent("findAndModify");
    expect(suspend!.query).toEqual({
      _id: key.id,
      tenantId: "acme",
      status: "active",
      suspendedByPlatform: { $exists: false },
    });
    expect(suspend!.update).toEqual({ $set: { suspendedAt, suspendedBy: "key_p", suspendedByPlatform: true } });
    expect(resume!.query).toEqual({
      _id: key.id,
      tenantId: "acme",
      status: { $ne: "revoked" },
      suspendedAt: { $exists: true },
    });
  });

  it("retire on first use: one conditional update of the predecessor (this rotation's, in its grace), then the successor's flag cleared", async () => {
    stub.handle = ({ name }) => (name === "update" ? { n: 1, nModified: 1, ok: 1 } : undefined);
    const s = await stub.readyStore();
    const at = new Date(1e12);
    const args = { tenantId: "acme", successorId: "key_s", predecessorId: key.id, at, revokedBy: "system:r" };
    expect(await s.retirePredecessor(args)).toBe(true);
    const [retire, clear] = sent("update").map((d) => (d.updates as Document[])[0]!);
    expect(retire!.q).toEqual({
      _id: key.id,
      tenantId: "acme",
      status: "deprecated",
      rotatedToKeyId: "key_s",
      revokeAt: { $gt: at },
    });
    expect(retire!.u).toEqual({
      $set: { status: "revoked", revokedAt: at, revokedBy: "system:r" },
      $unset: { slot: "", graceSlot: "" },
    });
    expect(clear).toMatchObject({ q: { _id: "key_s", tenantId: "acme" }, u: { $unset: { retireOnFirstUse: "" } } });
    stub.handle = ({ name }) => (name === "update" ? { n: 0, nModified: 0, ok: 1 } : undefined);
    expect(await s.retirePredecessor(args)).toBe(false); // the condition did not hold: not retired here
  });

  it("the expiry sweep reads live keys past their expiry, earliest first, bounded", async () => {
    const expired = { ...key, expiresAt: new Date(1e12) };
    stub.handle = ({ name, doc }) =>
      name === "find"
        ? { cursor: { id: BSON.Long.ZERO, ns: `wf.${doc.find}`, firstBatch: [toKeyDoc(expired, 0)] }, ok: 1 }
        : undefined;
    const s = await stub.readyStore();
    const now = new Date(2e12);
    expect(await s.findKeysPastExpiry(now, 500)).toEqual([expired]);
    const [find] = sent("find");
    expect(find!.filter).toEqual({ status: { $in: ["active", "deprecated"] }, expiresAt: { $lte: now } });
    expect(find!.sort).toEqual({ expiresAt: 1 });
    expect(find!.limit).toBe(500);
  });

  it("sets only the named policy fields in one upsert; a first write starts from HIPAA off", async () => {
    stub.handle = ({ name }) =>
      name === "findAndModify"
        ? {
            lastErrorObject: { n: 1 },
            value: { _id: "acme", v: 1, hipaaEnabled: false, maxKeyLifetimeMs: 86_400_000 },
            ok: 1,
          }
        : undefined;
    const s = await stub.readyStore();
    const saved = await s.setPolicy({ tenantId: "acme", hipaaEnabled: true, maxKeyLifetimeMs: 86_400_000 }, [
      "maxKeyLifetimeMs",
    ]);
    expect(saved).toEqual({ tenantId: "acme", hipaaEnabled: false, maxKeyLifetimeMs: 86_400_000 });
    await s.setPolicy({ tenantId: "acme", hipaaEnabled: false }, ["maxKeyLifetimeMs"]);
    await s.setPolicy({ tenantId: "acme", hipaaEnabled: true }, ["hipaaEnabled"]);
    const [setMax, clearMax, setHipaa] = sent("findAndModify");
    expect(setMax).toMatchObject({ query: { _id: "acme" }, upsert: true, new: true });
    expect(setMax!.update).toEqual({
      $set: { v: 1, maxKeyLifetimeMs: 86_400_000 },
      $setOnInsert: { hipaaEnabled: false },
    });
    expect(clearMax!.update).toEqual({
      $set: { v: 1 },
      $unset: { maxKeyLifetimeMs: "" },
      $setOnInsert: { hipaaEnabled: false },
    });
    expect(setHipaa!.update).toEqual({ $set: { v: 1, hipaaEnabled: true } });
  });
});

describe("the change feed reads suspensions (issue 22)", () => {
  it("watches suspendedAt set or removed on keys, and reports suspended true / false", async () => {
    class Stream extends EventEmitter {
      closed = false;
      async close() {
        this.closed = true;
      }
    }
    const stream = new Stream();
    let pipeline: Document[] = [];
    const feed = createMongoChangeFeed(async () => ({
      watch: (p: Document[]) => {
        pipeline = p;
        return stream;
      },
    }));
    const seen: StoreChange[] = [];
    const stop = feed.subscribe((c) => seen.push(c));
    await new Promise((r) => setTimeout(r, 10));
    const text = JSON.stringify(pipeline);
    expect(text).toContain('"updateDescription.updatedFields.suspendedAt":{"$exists":true}');
    expect(text).toContain('"updateDescription.removedFields":"suspendedAt"');
    expect(text).toContain('"updateDescription.removedFields":1');
    stream.emit("resumeTokenChanged", { _data: "t" });
    const update = (desc: Document) =>
      stream.emit("change", {
        operationType: "update",
        ns: { coll: "keys" },
        documentKey: { _id: "key_a" },
        updateDescription: desc,
      });
    update({ updatedFields: { suspendedAt: new Date() }, removedFields: [] });
    update({ updatedFields: {}, removedFields: ["suspendedAt", "suspendedBy"] });
    update({ updatedFields: { status: "revoked" }, removedFields: [] });
    expect(seen.filter((c) => c.kind === "key")).toEqual([
      { kind: "key", keyId: "key_a", suspended: true },
      { kind: "key", keyId: "key_a", suspended: false },
      { kind: "key", keyId: "key_a", status: "revoked" },
    ]);
    stop();
  });
});
