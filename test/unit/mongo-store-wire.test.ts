import { BSON, type Document } from "mongodb";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { toKeyDoc } from "../../src/adapters/mongo/mongo-documents.js";
import { createMongoTokenStore } from "../../src/adapters/mongo/mongo-token-store.js";
import { StoreUnavailableError } from "../../src/domain/errors.js";
import type { KeyRecord } from "../../src/domain/records.js";
import type { TokenStore } from "../../src/ports/token-store.js";
import { type MongoWireStub, startMongoWireStub } from "../support/mongo-wire-stub.js";

/**
 * The MongoDB store's failure paths with the real driver against a scripted MongoDB at the wire
 * (test/support/mongo-wire-stub.ts; no mongod here): what the driver actually sends (the commit's
 * write concern) and what it actually throws (bulkWrite's wrapper) reach the adapter unchanged.
 */
let stub: MongoWireStub;
let store: TokenStore | undefined;
beforeEach(async () => {
  stub = await startMongoWireStub();
  stub.replicaSet = true;
});
afterEach(async () => {
  await store?.close();
  store = undefined;
  await stub.close().catch(() => undefined);
});

const old: KeyRecord = {
  id: "key_OLDOLDOLDOLDOLDOLDOL",
  tenantId: "acme",
  label: "deploy",
  tokenHash: "h-old",
  hint: "wf_acme_...abcd",
  status: "active",
  createdAt: new Date(0),
  createdBy: "user:alice",
};
const successor: KeyRecord = { ...old, id: "key_NEWNEWNEWNEWNEWNEWNE", tokenHash: "h-new", hint: "wf_acme_...wxyz" };
const rotate = (s: TokenStore) =>
  s.rotateKey({ tenantId: "acme", keyId: old.id, successor, revokeAt: new Date(1e12), maxActive: 3, maxDeprecated: 3, now: new Date(1) });

/** Answers the rotation's reads and writes: the old key is ACTIVE in slot 0, no deprecated key holds a grace slot. */
function keysCollection(commit: () => Document): (cmd: { name: string; doc: Document }) => Document | undefined {
  const batch = (docs: Document[], ns: string) => ({ cursor: { id: BSON.Long.ZERO, ns, firstBatch: docs }, ok: 1 });
  return ({ name, doc }) => {
    if (name === "find") return batch(doc.filter?._id === old.id ? [toKeyDoc(old, 0)] : [], `wf.${doc.find}`);
    if (name === "findAndModify") return { lastErrorObject: { n: 1, updatedExisting: true }, value: toKeyDoc(old, 0), ok: 1 };
    if (name === "insert") return { n: 1, ok: 1 };
    if (name === "commitTransaction") return commit();
    return undefined;
  };
}

async function readyStore(timeouts: Record<string, number> = {}): Promise<TokenStore> {
  const s = (store = createMongoTokenStore({ uri: stub.uri, dbName: "wf", timeouts, retry: { initialMs: 10, maxMs: 20 } }));
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    if (await s.ping().then(() => true, () => false)) return s;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error("stub store never became ready");
}

describe("RotateKey's transaction on the wire (issue 10.5)", () => {
  it("commits with w: majority, the derived wtimeout (800 ms at STORE_TIMEOUT_MS 2000) and a maxTimeMS", async () => {
    stub.handle = keysCollection(() => ({ ok: 1 }));
    const s = await readyStore();
    const r = await rotate(s);
    expect(r.ok).toBe(true);
    const commits = stub.commands.filter((c) => c.name === "commitTransaction");
    expect(commits).toHaveLength(1);
    expect(commits[0]!.doc.writeConcern).toEqual({ w: "majority", wtimeout: 800 }); // the driver's default: 10000
    expect(commits[0]!.doc.maxTimeMS).toBeGreaterThan(0);
    expect(commits[0]!.doc.maxTimeMS).toBeLessThanOrEqual(2000);
    // Both writes went into the one transaction.
    const txnWrites = stub.commands.filter((c) => ["findAndModify", "insert"].includes(c.name));
    expect(txnWrites.map((c) => c.name).sort()).toEqual(["findAndModify", "insert"]); // (every() alone passed on none)
    expect(txnWrites.every((c) => c.doc.autocommit === false)).toBe(true);
  });

  it("stops retrying a commit whose result stays unknown once STORE_TIMEOUT_MS is spent, and answers UNAVAILABLE", async () => {
    // Replication never catches up: every commit answers a write-concern timeout, which the
    // driver labels UnknownTransactionCommitResult; its withTransaction would retry for 120 s.
    stub.handle = keysCollection(() => ({
      ok: 1,
      writeConcernError: { code: 64, codeName: "WriteConcernFailed", errmsg: "waiting for replication timed out", errInfo: { wtimeout: true } },
    }));
    const s = await readyStore({ transactionBudgetMS: 400 });
    const started = performance.now();
    const err = await rotate(s).then(() => undefined, (e: unknown) => e);
    expect(performance.now() - started).toBeLessThan(2000);
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect(stub.commands.filter((c) => c.name === "commitTransaction").length).toBeGreaterThan(1);
  }, 10_000);
});

describe("last_used_at flush during an outage (issue 10.8)", () => {
  it("is an outage (StoreUnavailableError), not a bug, although bulkWrite wraps the server-selection error", async () => {
    const s = await readyStore({ serverSelectionTimeoutMS: 300 });
    await stub.close(); // the deployment is gone
    const err = await s.recordKeyUses([{ keyId: old.id, at: new Date() }]).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect(((err as Error).cause as Error).name).toBe("MongoBulkWriteError");
  }, 10_000);
});
