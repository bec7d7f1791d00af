import { BSON, type Document } from "mongodb";
import { describe, expect, it } from "vitest";
import { toKeyDoc } from "../../src/adapters/mongo/mongo-documents.js";
import { createMongoTokenStore } from "../../src/adapters/mongo/mongo-token-store.js";
import { StoreUnavailableError } from "../../src/domain/errors.js";
import type { TokenStore } from "../../src/ports/token-store.js";
import { modelLastUsed } from "../support/mongo-last-used-model.js";
import { sleep } from "../support/poll.js";
import { useMongoWireStub } from "../support/mongo-wire-fixture.js";
import { ROTATED_KEY, successorKey } from "../support/rotation-keys.js";

/**
 * The MongoDB store's failure paths with the real driver against a scripted MongoDB at the wire
 * (test/support/mongo-wire-stub.ts; no mongod here): what the driver actually sends (the commit's
 * write concern) and what it actually throws (bulkWrite's wrapper) reach the adapter unchanged.
 */
const stub = useMongoWireStub({ replicaSet: true });

const old = ROTATED_KEY;
const successor = successorKey();
const rotate = (s: TokenStore) =>
  s.rotateKey({
    tenantId: "acme",
    keyId: old.id,
    successor,
    revokeAt: new Date(1e12),
    maxActive: 3,
    maxDeprecated: 3,
    now: new Date(1),
  });

/** Answers the rotation's reads and writes: the old key is ACTIVE in slot 0, no deprecated key holds a grace slot. */
function keysCollection(commit: () => Document): (cmd: { name: string; doc: Document }) => Document | undefined {
  const batch = (docs: Document[], ns: string) => ({ cursor: { id: BSON.Long.ZERO, ns, firstBatch: docs }, ok: 1 });
  return ({ name, doc }) => {
    if (name === "find") return batch(doc.filter?._id === old.id ? [toKeyDoc(old, 0)] : [], `wf.${doc.find}`);
    if (name === "findAndModify")
      return { lastErrorObject: { n: 1, updatedExisting: true }, value: toKeyDoc(old, 0), ok: 1 };
    if (name === "insert") return { n: 1, ok: 1 };
    if (name === "commitTransaction") return commit();
    return undefined;
  };
}

const readyStore = (timeouts: Record<string, number> = {}) => stub.readyStore({ timeouts });

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
      writeConcernError: {
        code: 64,
        codeName: "WriteConcernFailed",
        errmsg: "waiting for replication timed out",
        errInfo: { wtimeout: true },
      },
    }));
    const s = await readyStore({ transactionBudgetMS: 400 });
    const started = performance.now();
    const err = await rotate(s).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(performance.now() - started).toBeLessThan(2000);
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect(stub.commands.filter((c) => c.name === "commitTransaction").length).toBeGreaterThan(1);
  }, 10_000);
});

describe("last_used_at flush during an outage (issue 10.8)", () => {
  it("is an outage (StoreUnavailableError), not a bug, although bulkWrite wraps the server-selection error", async () => {
    const s = await readyStore({ serverSelectionTimeoutMS: 300 });
    await stub.close(); // the deployment is gone
    const err = await s.recordKeyUses([{ keyId: old.id, at: new Date() }]).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect(((err as Error).cause as Error).name).toBe("MongoBulkWriteError");
  }, 10_000);
});

describe("grace-slot reclaim uses the server's clock (issue 18.12)", () => {
  const MIN = 60_000;
  /**
   * A standalone (two-step rotation) whose 3 grace slots are held by keys with `revokeAt`, and
   * whose reclaim `update` is judged the way mongod would: `$$NOW` is the server's (here: this
   * process's real) clock; a literal date is whatever the calling replica sent.
   */
  function fullTenant(revokeAt: Date) {
    const holders = new Map<number, Date>([0, 1, 2].map((g) => [g, revokeAt]));
    const reclaims: Document[] = [];
    const batch = (docs: Document[], ns: string) => ({ cursor: { id: BSON.Long.ZERO, ns, firstBatch: docs }, ok: 1 });
    stub.replicaSet = false;
    stub.handle = ({ name, doc }) => {
      if (name === "find" && doc.filter?.status === "deprecated")
        return batch(
          [...holders.keys()].map((graceSlot) => ({ graceSlot })),
          `wf.${doc.find}`,
        );
      if (name === "find") return batch(doc.filter?._id === old.id ? [toKeyDoc(old, 0)] : [], `wf.${doc.find}`);
      if (name === "update" && doc.update === "keys") {
        const q = doc.updates[0].q as Document;
        reclaims.push(q);
        const serverNow = new Date();
        const ended = (r: Date) =>
          q.$expr
            ? JSON.stringify(q.$expr) === JSON.stringify({ $lte: ["$revokeAt", "$$NOW"] }) && r <= serverNow
            : r <= q.revokeAt.$lte;
        let n = 0;
        for (const [g, r] of holders) {
          if (ended(r)) {
            holders.delete(g);
            n++;
          }
        }
        return { n, nModified: n, ok: 1 };
      }
      if (name === "findAndModify")
        return { lastErrorObject: { n: 1, updatedExisting: true }, value: toKeyDoc(old, 0), ok: 1 };
      if (name === "insert") return { n: 1, ok: 1 };
      return undefined;
    };
    return { reclaims, holders };
  }
  const rotateAt = (s: TokenStore, now: Date) =>
    s.rotateKey({
      tenantId: "acme",
      keyId: old.id,
      successor,
      revokeAt: new Date(now.getTime() + 72 * 60 * MIN),
      maxActive: 3,
      maxDeprecated: 3,
      now,
    });

  it("a replica 10 minutes fast does not free a slot whose grace has 5 minutes left: the filter is revokeAt <= $$NOW", async () => {
    const { reclaims, holders } = fullTenant(new Date(Date.now() + 5 * MIN));
    const s = await readyStore();
    expect(await rotateAt(s, new Date(Date.now() + 10 * MIN))).toEqual({ ok: false, reason: "deprecated_limit" });
    expect(holders.size).toBe(3); // still 3 deprecated keys in grace, not 4
    expect(reclaims).toHaveLength(1);
    expect(reclaims[0]).toMatchObject({
      tenantId: "acme",
      status: "deprecated",
      $expr: { $lte: ["$revokeAt", "$$NOW"] },
    });
    expect(JSON.stringify(reclaims[0])).not.toContain('"$lte":{"$date"'); // no date from the caller's clock
  }, 10_000);

  it("a replica 10 minutes slow still frees the slots whose grace ended by the server's clock", async () => {
    const { reclaims, holders } = fullTenant(new Date(Date.now() - MIN));
    const s = await readyStore();
    expect((await rotateAt(s, new Date(Date.now() - 10 * MIN))).ok).toBe(true);
    expect(reclaims).toHaveLength(1);
    expect(holders.size).toBe(0);
  }, 10_000);
});

describe("last_used_at writes with several instances (issue 18.8)", () => {
  it("writes a busy key about once per second however many instances flush it, and ListKeys stays within the bound", async () => {
    const KEYS = 40;
    const INSTANCES = 5;
    const SECONDS = 10;
    const ids = Array.from({ length: KEYS }, (_, i) => `key_${String(i).padStart(20, "0")}`);
    // What the server stores, and (for comparison) what $max alone would write under the same load.
    const model = modelLastUsed(stub, ids);
    const instances: TokenStore[] = [];
    try {
      for (let i = 0; i < INSTANCES; i++) {
        const s = createMongoTokenStore({ uri: stub.uri, dbName: "wf", retry: { initialMs: 10, maxMs: 20 } });
        instances.push(s);
        while (
          !(await s.ping().then(
            () => true,
            () => false,
          ))
        )
          await sleep(10);
      }
      // Every instance serves every key all the time and flushes once a second, the flushes spread
      // over the second (instance i at i/INSTANCES s): each flush carries the newest use.
      const t0 = Date.UTC(2030, 0, 1);
      let worstLag = 0;
      for (let sec = 0; sec < SECONDS; sec++) {
        for (let i = 0; i < INSTANCES; i++) {
          const at = new Date(t0 + sec * 1000 + Math.floor((i * 1000) / INSTANCES));
          await instances[i]!.recordKeyUses(ids.map((keyId) => ({ keyId, at })));
          for (const id of ids) worstLag = Math.max(worstLag, at.getTime() - model.stored.get(id)!.getTime());
        }
      }
      const perKeyPerSecond = model.written / KEYS / SECONDS;
      const maxOnlyPerKeyPerSecond = model.maxOnlyWritten / KEYS / SECONDS;
      console.log(
        `last_used_at writes per key per second, ${INSTANCES} instances: ${perKeyPerSecond.toFixed(2)} with the coarseness filter, ${maxOnlyPerKeyPerSecond.toFixed(2)} with $max alone`,
      );
      expect(maxOnlyPerKeyPerSecond).toBe(INSTANCES); // every interleaved flush writes without the filter
      expect(perKeyPerSecond).toBeLessThanOrEqual(1); // at most one write per key per coarseness interval
      expect(worstLag).toBeLessThanOrEqual(1000); // the stored value is never more than 1 s behind a flushed use
      // The filter sent on the wire.
      const update = stub.commands.find((c) => c.name === "update" && c.doc.update === "keys")!;
      const q = (update.doc.updates as { q: Document }[])[0]!.q;
      expect(q.$or).toEqual([{ lastUsedAt: { $lt: new Date(t0 - 1000) } }, { lastUsedAt: { $exists: false } }]);
    } finally {
      for (const s of instances) await s.close();
    }
  }, 20_000);
});
