import { MongoServerError, type ClientSession, type Db } from "mongodb";
import { describe, expect, it } from "vitest";
import { bindUnit, createMongoUnitOfWork } from "../../src/adapters/mongo/mongo-unit-of-work.js";

/**
 * The MongoDB unit of work with a scripted driver session (the wire-level test, with the real
 * driver, is mongo-unit-of-work-wire.test.ts): what runs once, what is dropped with an attempt,
 * and which operations get the session.
 */
function scriptedSession(commits: (() => Promise<void>)[] = []) {
  let active = false;
  const s = {
    log: [] as string[],
    startTransaction: () => {
      s.log.push("start");
      active = true;
    },
    commitTransaction: async () => {
      s.log.push("commit");
      await (commits.shift() ?? (async () => undefined))();
      active = false;
    },
    abortTransaction: async () => {
      s.log.push("abort");
      active = false;
    },
    inTransaction: () => active,
    endSession: async () => void s.log.push("end"),
  };
  return s;
}

const transient = () => {
  const err = new MongoServerError({ message: "WriteConflict", code: 112 });
  err.addErrorLabel("TransientTransactionError");
  return err;
};

function unitOn(session: ReturnType<typeof scriptedSession>, supported: boolean | undefined = true) {
  return createMongoUnitOfWork({
    startSession: async () => session as unknown as ClientSession,
    supported: () => supported,
    budgetMs: 2000,
    wtimeoutMS: 500,
    maxCommitTimeMS: 500,
  });
}

/** A collection stand-in recording the options each operation got. */
function fakeDb() {
  const seen: { op: string; options: unknown }[] = [];
  const coll = {
    collectionName: "keys",
    findOne: async (_filter: unknown, options?: unknown) => void seen.push({ op: "findOne", options }),
    updateOne: async (_f: unknown, _u: unknown, options?: unknown) => void seen.push({ op: "updateOne", options }),
    watch: () => "stream",
  };
  const db = { collection: () => coll } as unknown as Db;
  return { db: bindUnit(db), seen };
}

describe("MongoDB unit of work", () => {
  it("runs afterCommit effects once, after the commit, in order; inside the unit every bound operation carries the session", async () => {
    const session = scriptedSession();
    const unit = unitOn(session);
    const { db, seen } = fakeDb();
    const effects: string[] = [];
    const value = await unit.run(async () => {
      expect(unit.inTransaction()).toBe(true);
      await db.collection("keys").findOne({ a: 1 }, { maxTimeMS: 5 });
      await db.collection("keys").updateOne({ a: 1 }, { $set: { a: 2 } });
      unit.afterCommit(() => effects.push(`one after ${session.log.join(",")}`));
      unit.afterCommit(() => effects.push("two"));
      // A nested run joins the unit (no second transaction).
      await unit.run(async () => unit.afterCommit(() => effects.push("nested")));
      expect(effects).toEqual([]);
      return 42;
    });
    expect(value).toBe(42);
    expect(effects).toEqual(["one after start,commit", "two", "nested"]);
    expect(session.log).toEqual(["start", "commit", "end"]);
    expect(seen).toEqual([
      { op: "findOne", options: { maxTimeMS: 5, session } },
      { op: "updateOne", options: { session } },
    ]);
    // Outside a unit: no session, and an effect runs at once.
    await db.collection("keys").findOne({});
    expect(seen.at(-1)).toEqual({ op: "findOne", options: undefined });
    unit.afterCommit(() => effects.push("now"));
    expect(effects.at(-1)).toBe("now");
  });

  it("drops the effects of an attempt that is run again (a transient commit error) and of a unit that fails", async () => {
    const session = scriptedSession([
      async () => {
        throw transient();
      },
    ]);
    const unit = unitOn(session);
    const effects: number[] = [];
    let attempt = 0;
    await unit.run(async () => {
      const n = ++attempt;
      unit.afterCommit(() => effects.push(n));
    });
    expect(attempt).toBe(2);
    expect(effects).toEqual([2]);
    expect(session.log.filter((l) => l !== "end")).toEqual(["start", "commit", "start", "commit"]);

    const failing = scriptedSession();
    const unit2 = unitOn(failing);
    await expect(
      unit2.run(async () => {
        unit2.afterCommit(() => effects.push(99));
        throw new Error("scripted");
      }),
    ).rejects.toThrow("scripted");
    expect(effects).toEqual([2]);
    expect(failing.log).toEqual(["start", "abort", "end"]);
  });

  it("outside() leaves the unit: fire-and-forget work started in it gets no session; an unknown operation inside a unit is refused", async () => {
    const unit = unitOn(scriptedSession());
    const { db, seen } = fakeDb();
    await unit.run(async () => {
      await unit.outside(async () => {
        expect(unit.inTransaction()).toBe(false);
        await db.collection("keys").findOne({});
      });
      expect(() => (db.collection("keys") as unknown as { watch(): unknown }).watch()).toThrow(/not bound to the unit/);
      expect(db.collection("keys").collectionName).toBe("keys");
    });
    expect(seen).toEqual([{ op: "findOne", options: undefined }]);
  });

  it("without transactions (a standalone server, as the topology says) the work runs as it is, effects at once", async () => {
    const session = scriptedSession();
    const unit = unitOn(session, false);
    const { db, seen } = fakeDb();
    const effects: string[] = [];
    await unit.run(async () => {
      expect(unit.inTransaction()).toBe(false);
      await db.collection("keys").findOne({});
      unit.afterCommit(() => effects.push("at once"));
      expect(effects).toEqual(["at once"]);
    });
    expect(session.log).toEqual([]);
    expect(seen).toEqual([{ op: "findOne", options: undefined }]);
  });

  it("the budget counts from the unit's first store operation: slow work before it (an admin's authentication) does not make the call UNAVAILABLE", async () => {
    const session = scriptedSession();
    const unit = createMongoUnitOfWork({
      startSession: async () => session as unknown as ClientSession,
      supported: () => true,
      budgetMs: 60,
      wtimeoutMS: 50,
      maxCommitTimeMS: 50,
    });
    const { db, seen } = fakeDb();
    const value = await unit.run(async () => {
      await new Promise((r) => setTimeout(r, 250)); // e.g. a Cognito JWKS fetch, no store operation
      await db.collection("keys").updateOne({ a: 1 }, { $set: { a: 2 } });
      return "stored";
    });
    expect(value).toBe("stored");
    expect(session.log).toEqual(["start", "commit", "end"]);
    expect(seen).toEqual([{ op: "updateOne", options: { session } }]);

    // Store work itself past the budget still gives up before the commit (nothing lands late).
    const late = scriptedSession();
    const unit2 = createMongoUnitOfWork({
      startSession: async () => late as unknown as ClientSession,
      supported: () => true,
      budgetMs: 60,
      wtimeoutMS: 50,
      maxCommitTimeMS: 50,
    });
    await expect(
      unit2.run(async () => {
        await db.collection("keys").findOne({});
        await new Promise((r) => setTimeout(r, 250));
        await db.collection("keys").updateOne({ a: 1 }, { $set: { a: 2 } });
      }),
    ).rejects.toThrow(/did not finish within 60 ms/);
    expect(late.log).toEqual(["start", "abort", "end"]);
  });

  it("a deployment that answers IllegalOperation (20) to the transaction: the work runs again without one", async () => {
    const session = scriptedSession();
    const unit = unitOn(session, undefined);
    let runs = 0;
    const value = await unit.run(async () => {
      runs++;
      if (unit.inTransaction())
        throw new MongoServerError({
          message: "Transaction numbers are only allowed on a replica set member or mongos",
          code: 20,
        });
      return "direct";
    });
    expect(value).toBe("direct");
    expect(runs).toBe(2);
    expect(session.log).toEqual(["start", "abort", "end"]);
  });
});
