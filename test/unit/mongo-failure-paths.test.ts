import {
  type Collection,
  type Document,
  MongoBulkWriteError,
  MongoClient,
  MongoErrorLabel,
  MongoNetworkError,
  MongoServerError,
  MongoServerSelectionError,
  type TopologyDescription,
} from "mongodb";
import { createRequire } from "node:module";
import { describe, expect, it, vi } from "vitest";
import { type KeyDoc, toKeyDoc } from "../../src/adapters/mongo/mongo-documents.js";
import { isUnavailable, toStoreError } from "../../src/adapters/mongo/mongo-errors.js";
import { createKeySlotOps } from "../../src/adapters/mongo/mongo-key-slots.js";
import type { RotationTransactions } from "../../src/adapters/mongo/mongo-rotate-transaction.js";
import { transactionsFromTopology } from "../../src/adapters/mongo/mongo-topology.js";
import { StoreUnavailableError } from "../../src/domain/errors.js";
import { sleep } from "../support/poll.js";
import { ROTATED_KEY, successorKey } from "../support/rotation-keys.js";

/**
 * Issue 10's failure paths of the MongoDB adapter, reproduced without a mongod: the driver's real
 * error classes (and, where it runs without a server, the driver's real ClientSession), with a
 * scripted stand-in for the collection the adapter talks to.
 */
const { WaitQueueTimeoutError } = createRequire(import.meta.url)("mongodb/lib/cmap/errors.js") as {
  WaitQueueTimeoutError: new (message: string, address: string) => Error;
};
const T = ROTATED_KEY.tenantId;
const OLD = ROTATED_KEY.id;
const activeDoc = (over: Partial<KeyDoc> = {}): KeyDoc => ({ ...toKeyDoc(ROTATED_KEY, 0), ...over });
const successor = successorKey({ createdAt: new Date(1) });
const now = new Date(10);
const rotateArgs = {
  tenantId: T,
  keyId: OLD,
  successor,
  revokeAt: new Date(1000),
  maxActive: 3,
  maxDeprecated: 3,
  now,
};

/**
 * A scripted collection: `find` answers by filter (the active slots read, the grace slots read),
 * every other method is a vi.fn the test scripts.
 */
function scriptedCollection(script: {
  activeSlots?: number[];
  graceSlots?: number[];
  findOne?: () => unknown;
  findOneAndUpdate?: () => unknown;
}) {
  const calls: string[] = [];
  const coll = {
    find: vi.fn((filter: { status?: string }) => ({
      toArray: async () => {
        calls.push(`find:${filter.status}`);
        return filter.status === "active"
          ? (script.activeSlots ?? []).map((slot) => ({ slot }))
          : (script.graceSlots ?? []).map((graceSlot) => ({ graceSlot, revokeAt: new Date(999_999) }));
      },
    })),
    findOne: vi.fn(async () => {
      calls.push("findOne");
      return script.findOne ? script.findOne() : activeDoc();
    }),
    findOneAndUpdate: vi.fn(async () => {
      calls.push("findOneAndUpdate");
      return script.findOneAndUpdate ? script.findOneAndUpdate() : activeDoc();
    }),
    insertOne: vi.fn(async (doc: KeyDoc) => {
      calls.push(`insertOne:slot=${doc.slot}`);
      return { acknowledged: true, insertedId: doc._id };
    }),
    updateMany: vi.fn(async () => ({ modifiedCount: 0 })),
    updateOne: vi.fn(async () => ({ modifiedCount: 1 })),
    deleteOne: vi.fn(async () => ({ deletedCount: 1 })),
  };
  return { coll: coll as unknown as Collection<KeyDoc>, raw: coll, calls };
}

/** A scripted ClientSession: records what the adapter asks of it. */
function scriptedSession(commit: () => Promise<unknown> = async () => undefined) {
  let active = false;
  const session = {
    started: [] as unknown[],
    commits: 0,
    aborts: 0,
    startTransaction: (opts: unknown) => {
      session.started.push(opts);
      active = true;
    },
    commitTransaction: async () => {
      session.commits++;
      await commit();
      active = false;
    },
    abortTransaction: async () => {
      session.aborts++;
      active = false;
    },
    inTransaction: () => active,
    endSession: async () => undefined,
  };
  return session;
}

const txns = (
  startSession: RotationTransactions["startSession"],
  over: Partial<RotationTransactions> = {},
): RotationTransactions => ({
  startSession,
  supported: () => true,
  budgetMs: 300,
  wtimeoutMS: 3000,
  ...over,
});

/** What the driver throws inside a transaction when a socket fails (lib/sdam/server.js labels it). */
function transientNetworkError(): MongoNetworkError {
  const err = new MongoNetworkError("connection 3 to 10.0.0.1:27017 timed out");
  err.addErrorLabel(MongoErrorLabel.TransientTransactionError);
  return err;
}

describe("RotateKey's transaction is bounded by the store timeout (issue 10.5)", () => {
  it("gives up within the budget when every attempt fails transiently (the driver's withTransaction retries for 120 s)", async () => {
    // The driver's real ClientSession (it needs no server until a command is sent through it).
    const client = new MongoClient("mongodb://127.0.0.1:1/?directConnection=true", { serverSelectionTimeoutMS: 50 });
    const { coll, raw } = scriptedCollection({});
    raw.findOne.mockImplementation(async () => {
      throw transientNetworkError();
    });
    const ops = createKeySlotOps(
      async () => coll,
      2000,
      txns(async () => client.startSession(), { budgetMs: 300 }),
    );
    const started = performance.now();
    const err = await ops.rotateKey(rotateArgs).then(
      () => undefined,
      (e: unknown) => e,
    );
    const elapsed = performance.now() - started;
    expect(elapsed).toBeLessThan(1500);
    expect(raw.findOne.mock.calls.length).toBeGreaterThan(1); // it did retry, within the budget
    expect(toStoreError(err, "rotateKey")).toBeInstanceOf(StoreUnavailableError);
    expect(raw.insertOne).not.toHaveBeenCalled();
    await client.close();
  }, 10_000);

  it("commits with majority write concern, the 3 s wtimeout and a commit time bounded by the budget", async () => {
    const { coll, calls } = scriptedCollection({});
    const session = scriptedSession();
    const ops = createKeySlotOps(
      async () => coll,
      2000,
      txns(async () => session, { budgetMs: 700 }),
    );
    const r = await ops.rotateKey(rotateArgs);
    expect(r.ok).toBe(true);
    expect(session.commits).toBe(1);
    const opts = session.started[0] as {
      writeConcern: { w: unknown; wtimeoutMS: unknown };
      maxCommitTimeMS: number;
      readPreference: unknown;
    };
    expect(opts.writeConcern).toMatchObject({ w: "majority", wtimeoutMS: 3000 });
    expect(opts.maxCommitTimeMS).toBeGreaterThan(0);
    expect(opts.maxCommitTimeMS).toBeLessThanOrEqual(700);
    expect(opts.readPreference).toBe("primary");
    expect(calls).toContain("insertOne:slot=0");
  });

  it("stops retrying an unknown commit result at the deadline and answers UNAVAILABLE", async () => {
    const { coll } = scriptedCollection({});
    const unknown = () => {
      const e = new MongoServerError({ ok: 0, code: 91, codeName: "ShutdownInProgress", errmsg: "shutting down" });
      e.addErrorLabel(MongoErrorLabel.UnknownTransactionCommitResult);
      return e;
    };
    const session = scriptedSession(async () => {
      await sleep(20);
      throw unknown();
    });
    const ops = createKeySlotOps(
      async () => coll,
      2000,
      txns(async () => session, { budgetMs: 200 }),
    );
    const started = performance.now();
    const err = await ops.rotateKey(rotateArgs).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(performance.now() - started).toBeLessThan(1000);
    expect(session.commits).toBeGreaterThan(1);
    expect(toStoreError(err, "rotateKey")).toBeInstanceOf(StoreUnavailableError);
  });

  it("never starts a commit after the deadline: a transaction whose writes outlast the budget is aborted", async () => {
    const { coll, raw } = scriptedCollection({});
    raw.insertOne.mockImplementation((async () => {
      await sleep(250); // a slow write; the caller is told UNAVAILABLE at 200 ms
      return { acknowledged: true };
    }) as never);
    const session = scriptedSession();
    const err = await createKeySlotOps(
      async () => coll,
      2000,
      txns(async () => session, { budgetMs: 200 }),
    )
      .rotateKey(rotateArgs)
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect(session.commits).toBe(0);
    expect(session.aborts).toBe(1);
  });
});

describe("RotateKey picks the successor's slot inside the transaction (issue 10.6)", () => {
  it("gives the successor the old key's slot even when it is beyond the limit (the active count is unchanged)", async () => {
    const { coll, calls } = scriptedCollection({ findOneAndUpdate: () => activeDoc({ slot: 5 }) });
    const session = scriptedSession();
    const ops = createKeySlotOps(
      async () => coll,
      2000,
      txns(async () => session),
    );
    expect((await ops.rotateKey(rotateArgs)).ok).toBe(true);
    expect(calls).toContain("insertOne:slot=5"); // the old code put it in slot 0: E11000, INTERNAL
  });

  it("gives a slot-less active key's successor a free slot, and answers limit (writes aborted) when none is free", async () => {
    const free = scriptedCollection({ findOneAndUpdate: () => activeDoc({ slot: undefined }), activeSlots: [0, 2] });
    const s1 = scriptedSession();
    expect(
      (
        await createKeySlotOps(
          async () => free.coll,
          2000,
          txns(async () => s1),
        ).rotateKey(rotateArgs)
      ).ok,
    ).toBe(true);
    expect(free.calls).toContain("insertOne:slot=1");

    const full = scriptedCollection({ findOneAndUpdate: () => activeDoc({ slot: undefined }), activeSlots: [0, 1, 2] });
    const s2 = scriptedSession();
    expect(
      await createKeySlotOps(
        async () => full.coll,
        2000,
        txns(async () => s2),
      ).rotateKey(rotateArgs),
    ).toEqual({ ok: false, reason: "limit" });
    expect(full.raw.insertOne).not.toHaveBeenCalled();
    expect(s2.commits).toBe(0);
    expect(s2.aborts).toBe(1); // the deprecation written in the transaction is rolled back
  });

  it("answers deprecated_limit (writes aborted) when every grace slot is held by a key in its grace", async () => {
    const { coll, raw } = scriptedCollection({ graceSlots: [0, 1, 2] });
    const session = scriptedSession();
    expect(
      await createKeySlotOps(
        async () => coll,
        2000,
        txns(async () => session),
      ).rotateKey(rotateArgs),
    ).toEqual({
      ok: false,
      reason: "deprecated_limit",
    });
    expect(raw.findOneAndUpdate).not.toHaveBeenCalled();
    expect(session.commits).toBe(0);
  });
});

describe("transactions are decided from the topology, not latched off by one error (issue 10.7)", () => {
  const desc = (type: string, serverTypes: string[]) =>
    ({
      type,
      servers: new Map(serverTypes.map((t, i) => [`h${i}:27017`, { type: t }])),
    }) as unknown as TopologyDescription;

  it("reads the driver's topology description (built from each server's hello)", () => {
    expect(transactionsFromTopology(desc("ReplicaSetWithPrimary", ["RSPrimary", "RSSecondary"]))).toBe(true);
    expect(transactionsFromTopology(desc("Sharded", ["Mongos"]))).toBe(true);
    expect(transactionsFromTopology(desc("LoadBalanced", ["LoadBalancer"]))).toBe(true);
    expect(transactionsFromTopology(desc("Single", ["Standalone"]))).toBe(false);
    expect(transactionsFromTopology(desc("Single", ["RSPrimary"]))).toBe(true); // directConnection to a member
    expect(transactionsFromTopology(desc("Unknown", ["Unknown"]))).toBeUndefined();
    expect(transactionsFromTopology(undefined)).toBeUndefined();
  });

  it("after error 20 takes the two-step path for that call only; the next rotation tries the transaction again", async () => {
    const { coll } = scriptedCollection({});
    const illegal = new MongoServerError({
      ok: 0,
      code: 20,
      codeName: "IllegalOperation",
      errmsg: "Transaction numbers are only allowed on a replica set member or mongos",
    });
    let sessions = 0;
    const session = scriptedSession();
    const startSession = async () => {
      sessions++;
      if (sessions === 1) {
        const failing = scriptedSession();
        failing.commitTransaction = async () => {
          throw illegal;
        };
        return failing;
      }
      return session;
    };
    const ops = createKeySlotOps(async () => coll, 2000, txns(startSession));
    expect((await ops.rotateKey(rotateArgs)).ok).toBe(true); // two-step fallback
    expect((await ops.rotateKey(rotateArgs)).ok).toBe(true);
    expect(sessions).toBe(2); // the old code never tried a transaction again until restart
    expect(session.commits).toBe(1);
  });

  it("does not start a transaction where the topology says standalone", async () => {
    const { coll } = scriptedCollection({});
    const startSession = vi.fn(async () => scriptedSession());
    const ops = createKeySlotOps(async () => coll, 2000, txns(startSession, { supported: () => false }));
    expect((await ops.rotateKey(rotateArgs)).ok).toBe(true);
    expect(startSession).not.toHaveBeenCalled();
  });
});

describe("outages are classified as outages (issue 10.8)", () => {
  it("unwraps bulkWrite's MongoBulkWriteError around a server-selection error (last_used_at flushes)", () => {
    const selection = new MongoServerSelectionError("Server selection timed out after 2000 ms", {
      type: "ReplicaSetNoPrimary",
      servers: new Map(),
    } as never);
    // Exactly what node_modules/mongodb/lib/bulk/common.js throws for a batch whose execution failed.
    const wrapped = new MongoBulkWriteError(selection, {} as never);
    expect(wrapped.name).toBe("MongoBulkWriteError");
    expect(isUnavailable(wrapped)).toBe(true);
    expect(toStoreError(wrapped, "recordKeyUses")).toBeInstanceOf(StoreUnavailableError);
    // The pool's errors (classes the driver does not export at its top level) are unwrapped too.
    const waitQueue = new WaitQueueTimeoutError(
      "Timed out while checking out a connection from connection pool",
      "10.0.0.1:27017",
    );
    expect(waitQueue.name).toBe("MongoWaitQueueTimeoutError");
    expect(isUnavailable(new MongoBulkWriteError(waitQueue, {} as never))).toBe(true);
    // A real write error stays a failure of the write (INTERNAL), not an outage.
    const writeErr = new MongoBulkWriteError(
      { message: "E11000 duplicate key", code: 11000, writeErrors: [] } as never,
      {} as never,
    );
    expect(isUnavailable(writeErr)).toBe(false);
  });

  it("classifies a write-concern error that bulkWrite reports at its end as an outage (issue 18.10)", () => {
    // Built by the driver's own code: BulkOperationBase#handleWriteError (lib/bulk/common.js) throws
    // `new MongoBulkWriteError(writeConcernError, writeResult)` with the WriteConcernError instance,
    // whose `code` is a prototype getter that the MongoServerError constructor does not copy.
    const bulk = createRequire(import.meta.url)("mongodb/lib/bulk/common.js") as {
      WriteConcernError: new (e: Document) => { code: number };
      BulkWriteResult: new (r: Document, ordered: boolean) => unknown;
      BulkOperationBase: { prototype: { handleWriteError(this: unknown, r: unknown): void } };
    };
    const bulkResult = {
      ok: 1,
      writeErrors: [],
      insertedIds: [],
      nInserted: 0,
      nUpserted: 0,
      nMatched: 1,
      nModified: 1,
      nRemoved: 0,
      upserted: [],
      writeConcernErrors: [
        new bulk.WriteConcernError({
          code: 64,
          codeName: "WriteConcernFailed",
          errmsg: "waiting for replication timed out",
          errInfo: { wtimeout: true },
        }),
      ],
    };
    let thrown: unknown;
    try {
      bulk.BulkOperationBase.prototype.handleWriteError.call(
        { s: { bulkResult } },
        new bulk.BulkWriteResult(bulkResult, false),
      );
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(MongoBulkWriteError);
    expect((thrown as MongoBulkWriteError).code).toBeUndefined(); // the getter was not copied: the bug's precondition
    expect(isUnavailable(thrown)).toBe(true);
    expect(toStoreError(thrown, "recordKeyUses")).toBeInstanceOf(StoreUnavailableError);
    // A write-concern error that is not an outage (an unsatisfiable w) stays INTERNAL.
    const unsatisfiable = {
      ...bulkResult,
      writeConcernErrors: [new bulk.WriteConcernError({ code: 100, errmsg: "Not enough data-bearing nodes" })],
    };
    let other: unknown;
    try {
      bulk.BulkOperationBase.prototype.handleWriteError.call(
        { s: { bulkResult: unsatisfiable } },
        new bulk.BulkWriteResult(unsatisfiable, false),
      );
    } catch (err) {
      other = err;
    }
    expect(isUnavailable(other)).toBe(false);
  });

  it("treats interrupted (11601) and stale-routing (63, 150, 13388) errors as outages (issue 18.13)", () => {
    for (const [code, codeName] of [
      [11601, "Interrupted"],
      [63, "StaleShardVersion"],
      [150, "StaleEpoch"],
      [13388, "StaleConfig"],
    ] as const) {
      const e = new MongoServerError({ ok: 0, code, codeName, errmsg: "operation could not complete" });
      expect(isUnavailable(e), codeName).toBe(true);
      expect(toStoreError(e, "findKeyByHash")).toBeInstanceOf(StoreUnavailableError);
    }
  });

  it("treats the transaction labels left after the bounded retries as outages", () => {
    for (const label of [MongoErrorLabel.TransientTransactionError, MongoErrorLabel.UnknownTransactionCommitResult]) {
      const e = new MongoServerError({ ok: 0, code: 112, codeName: "WriteConflict", errmsg: "write conflict" });
      e.addErrorLabel(label);
      expect(toStoreError(e, "rotateKey")).toBeInstanceOf(StoreUnavailableError);
    }
    expect(isUnavailable(new MongoServerError({ ok: 0, code: 112, errmsg: "write conflict" }))).toBe(false);
  });
});

describe("two-step rotation (standalone servers): the deprecated-keys limit through the grace-slot index", () => {
  const graceTaken = (g: number) =>
    new MongoServerError({
      ok: 0,
      code: 11000,
      errmsg: `E11000 duplicate key error collection: wf.keys index: keys_tenant_grace_slot_unique dup key: { tenantId: "acme", graceSlot: ${g} }`,
      keyPattern: { tenantId: 1, graceSlot: 1 },
    });
  const standalone = (coll: Collection<KeyDoc>) =>
    createKeySlotOps(
      async () => coll,
      2000,
      txns(async () => scriptedSession(), { supported: () => false }),
    );

  it("deprecates into a free grace slot in the same conditional write", async () => {
    const { coll, raw } = scriptedCollection({ graceSlots: [0, 1] });
    expect((await standalone(coll).rotateKey(rotateArgs)).ok).toBe(true);
    const update = raw.findOneAndUpdate.mock.calls[0] as unknown as [Document, { $set: Record<string, unknown> }];
    expect(update[0]).toEqual({ _id: OLD, tenantId: T, status: "active", suspendedAt: { $exists: false } });
    expect(update[1].$set).toMatchObject({ status: "deprecated", graceSlot: 2 });
  });

  it("tries the next grace slot when a concurrent rotation took one (E11000), and answers deprecated_limit when all are taken", async () => {
    const { coll, raw } = scriptedCollection({ graceSlots: [0, 1] });
    raw.findOneAndUpdate.mockImplementation((async (_f: unknown, u: { $set: { graceSlot: number } }) => {
      throw graceTaken(u.$set.graceSlot);
    }) as never);
    // The second read sees the slots the concurrent rotations took.
    let reads = 0;
    raw.find.mockImplementation(((filter: { status?: string }) => ({
      toArray: async () =>
        filter.status === "deprecated"
          ? (reads++ === 0 ? [0, 1] : [0, 1, 2]).map((graceSlot) => ({ graceSlot, revokeAt: new Date(999_999) }))
          : [],
    })) as never);
    expect(await standalone(coll).rotateKey(rotateArgs)).toEqual({ ok: false, reason: "deprecated_limit" });
    expect(raw.findOneAndUpdate).toHaveBeenCalledTimes(3); // slots 2, 0, 1 in the first pass; none tried in the second
    expect(raw.insertOne).not.toHaveBeenCalled();
  });

  it("frees the grace slots of keys whose grace ended before calling the tenant full", async () => {
    const { coll, raw } = scriptedCollection({});
    let reads = 0;
    raw.find.mockImplementation(((filter: { status?: string }) => ({
      toArray: async () => {
        if (filter.status !== "deprecated") return [];
        // Slot 1's holder ended its grace at 5 (before now = 10); after the sweep it is gone.
        return reads++ === 0
          ? [
              { graceSlot: 0, revokeAt: new Date(999) },
              { graceSlot: 1, revokeAt: new Date(5) },
              { graceSlot: 2, revokeAt: new Date(999) },
            ]
          : [
              { graceSlot: 0, revokeAt: new Date(999) },
              { graceSlot: 2, revokeAt: new Date(999) },
            ];
      },
    })) as never);
    raw.updateMany.mockResolvedValue({ modifiedCount: 1 }); // the server found slot 1's grace ended
    expect((await standalone(coll).rotateKey(rotateArgs)).ok).toBe(true);
    expect(raw.updateMany).toHaveBeenCalledTimes(1);
    const [filter, update] = raw.updateMany.mock.calls[0] as unknown as [Document, Document];
    // Judged by the server's clock ($$NOW), not the caller's `now` (issue 18.12).
    expect(filter).toEqual({
      tenantId: T,
      status: "deprecated",
      graceSlot: { $exists: true },
      revokeAt: { $type: "date" },
      $expr: { $lte: ["$revokeAt", "$$NOW"] },
    });
    // Only the place is given back: the key stays DEPRECATED for the sweep (and its audit event).
    expect(update).toEqual({ $unset: { graceSlot: "" } });
    expect(
      (raw.findOneAndUpdate.mock.calls[0] as unknown as [Document, { $set: Record<string, unknown> }])[1].$set
        .graceSlot,
    ).toBe(1);
  });
});

describe("RotateKey never deprecates a suspended key (review finding, session 32: rotate vs suspend race)", () => {
  const suspendedDoc = () => activeDoc({ suspendedAt: new Date(5), suspendedBy: "s" });

  it("two-step: the deprecating write requires the key unsuspended; a suspended key answers suspended, nothing written", async () => {
    const { coll, raw, calls } = scriptedCollection({ findOneAndUpdate: () => null, findOne: suspendedDoc });
    const ops = createKeySlotOps(
      async () => coll,
      2000,
      txns(async () => scriptedSession(), { supported: () => false }),
    );
    expect(await ops.rotateKey(rotateArgs)).toEqual({ ok: false, reason: "suspended" });
    const [filter] = raw.findOneAndUpdate.mock.calls[0] as unknown as [Document];
    expect(filter).toEqual({ _id: OLD, tenantId: T, status: "active", suspendedAt: { $exists: false } });
    expect(calls.filter((c) => c.startsWith("insertOne"))).toEqual([]);
  });

  it("in a transaction: a suspended key is refused before any write, and the write carries the same condition", async () => {
    const refused = scriptedCollection({ findOne: suspendedDoc });
    const s1 = scriptedSession();
    expect(
      await createKeySlotOps(
        async () => refused.coll,
        2000,
        txns(async () => s1),
      ).rotateKey(rotateArgs),
    ).toEqual({ ok: false, reason: "suspended" });
    expect(refused.raw.findOneAndUpdate).not.toHaveBeenCalled();

    const ok = scriptedCollection({});
    const s2 = scriptedSession();
    expect(
      (
        await createKeySlotOps(
          async () => ok.coll,
          2000,
          txns(async () => s2),
        ).rotateKey(rotateArgs)
      ).ok,
    ).toBe(true);
    const [filter] = ok.raw.findOneAndUpdate.mock.calls[0] as unknown as [Document];
    expect(filter).toEqual({ _id: OLD, tenantId: T, status: "active", suspendedAt: { $exists: false } });
  });
});
