// The unit of work on MongoDB (src/ports/unit-of-work.ts): one multi-document transaction through
// runBoundedTransaction (bounded by the store deadline; not the driver's withTransaction, see
// mongo-transaction.ts), carried to every collection operation of the adapters by an
// AsyncLocalStorage: `bindUnit(db)` hands out collections whose operations add `{ session }` while a
// unit is running in the caller's async context. The operations of one unit run one after another
// (the driver does not support parallel operations in a transaction).
//
// Transactions where the deployment has them (replica set, sharded, load-balanced) as the driver's
// topology view last saw them, as RotateKey decides; a standalone server (or an answer "no
// transactions here", IllegalOperation 20) runs `work` as it is, each write on its own, as before.
import { AsyncLocalStorage } from "node:async_hooks";
import type { ClientSession, Collection, Db, Document } from "mongodb";
import type { UnitOfWork } from "../../ports/unit-of-work.js";
import { isGraceSlotTaken, isSlotTaken } from "./mongo-slots.js";
import {
  isTransactionUnsupported,
  isTransientTransactionError,
  runBoundedTransaction,
  type TransactionSession,
} from "./mongo-transaction.js";

interface Unit {
  session: ClientSession;
  /** False once the unit has ended: work started inside it that outlives it runs without the session. */
  active: boolean;
  effects: (() => void)[];
  /** Run if the unit fails after this attempt's commit was sent (ifCommitUnknown). */
  ifUnknown: (() => void)[];
  /** Told by each bound operation: the unit's budget counts from its first one. */
  started: () => void;
}

const units = new AsyncLocalStorage<Unit>();

/** The session of the unit running in this async context, if any. */
export const ambientSession = (): ClientSession | undefined => {
  const u = units.getStore();
  return u?.active ? u.session : undefined;
};

/**
 * Collection methods and the position of their options argument: each gets the unit's session.
 * Anything else called on a collection inside a unit is refused (it would run outside the transaction).
 */
const OPTIONS_AT: Readonly<Record<string, number>> = {
  find: 1,
  findOne: 1,
  countDocuments: 1,
  aggregate: 1,
  insertOne: 1,
  insertMany: 1,
  deleteOne: 1,
  deleteMany: 1,
  bulkWrite: 1,
  updateOne: 2,
  updateMany: 2,
  replaceOne: 2,
  findOneAndUpdate: 2,
  findOneAndDelete: 1,
  findOneAndReplace: 2,
};
const PASS_THROUGH = new Set([
  "collectionName",
  "dbName",
  "namespace",
  "readConcern",
  "writeConcern",
  "readPreference",
]);

function bindCollection<T extends object>(coll: Collection<T>): Collection<T> {
  return new Proxy(coll, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof prop !== "string" || typeof value !== "function") return value;
      const at = OPTIONS_AT[prop];
      return (...args: unknown[]) => {
        const session = ambientSession();
        if (session) {
          if (at === undefined && !PASS_THROUGH.has(prop))
            throw new Error(`Collection.${prop} is not bound to the unit of work (mongo-unit-of-work.ts)`);
          if (at !== undefined) {
            units.getStore()?.started();
            while (args.length < at) args.push(undefined);
            const given = (args[at] ?? {}) as Record<string, unknown>;
            // An explicit session (e.g. the rotation's own transaction, outside any unit) wins.
            args[at] = given.session ? given : { ...given, session };
          }
        }
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

const boundDbs = new WeakMap<Db, Db>();

/** The database as the store adapters use it: its collections join the caller's unit (one proxy per Db and collection name). */
export function bindUnit(db: Db): Db {
  const known = boundDbs.get(db);
  if (known) return known;
  const collections = new Map<string, Collection<Document>>();
  const bound = new Proxy(db, {
    get(target, prop, receiver) {
      if (prop === "collection")
        return (name: string, options?: object) => {
          if (options !== undefined) return bindCollection(target.collection(name, options));
          let coll = collections.get(name);
          if (!coll) collections.set(name, (coll = bindCollection(target.collection(name))));
          return coll;
        };
      const value = Reflect.get(target, prop, receiver) as unknown;
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  boundDbs.set(db, bound);
  return bound;
}

/** What the unit needs from the connection. */
export interface UnitTransactions {
  startSession(): Promise<TransactionSession & ClientSession>;
  /** Transactions supported, as the driver's topology view last saw it; undefined: not known yet (try). */
  supported(): boolean | undefined;
  /** The whole unit, re-runs and commit included (the store deadline). */
  budgetMs: number;
  wtimeoutMS: number;
  maxCommitTimeMS: number;
}

const runEffects = (effects: readonly (() => void)[]) => {
  for (const effect of effects) {
    try {
      effect();
    } catch {
      // an effect never fails the unit
    }
  }
};

/** A failure of an operation inside the unit that asks for the whole unit again (the adapters may wrap it). */
export const isUnitRetryable = (err: unknown): boolean => {
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 4; depth++) {
    if (isTransientTransactionError(e) || isSlotTaken(e) || isGraceSlotTaken(e)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
};

export function createMongoUnitOfWork(txn: UnitTransactions): UnitOfWork {
  // No transaction: each write lands on its own, effects run at once (afterCommit sees no unit).
  const direct = <T>(work: () => Promise<T>): Promise<T> => work();

  return {
    async run(work) {
      if (units.getStore()?.active) return work(); // joins the unit it runs in
      if (txn.supported() === false) return direct(work);
      const session = await txn.startSession();
      let unit: Unit | undefined;
      // The budget bounds the transaction, which begins with its first store operation: work before
      // it (the caller's authentication, a Cognito JWKS fetch) is not counted, as it was not before
      // the unit existed. The clock stands still until then (or the end of the first attempt).
      const t0 = performance.now();
      let firstOpAt: number | undefined;
      const started = () => void (firstOpAt ??= performance.now());
      const now = () => (firstOpAt === undefined ? t0 : t0 + (performance.now() - firstOpAt));
      // Whether the current attempt's commit was sent: a failure after it leaves the outcome unknown.
      let commitSent = false;
      const tracked: TransactionSession = {
        startTransaction: (o) => session.startTransaction(o),
        commitTransaction: () => {
          commitSent = true;
          return session.commitTransaction();
        },
        abortTransaction: () => session.abortTransaction(),
        inTransaction: () => session.inTransaction(),
      };
      try {
        return await runBoundedTransaction(
          tracked,
          async () => {
            if (unit) unit.active = false; // a previous attempt's stragglers leave the session alone
            commitSent = false;
            unit = { session, active: true, effects: [], ifUnknown: [], started };
            const value = await units.run(unit, work).finally(started);
            return { commit: true, value };
          },
          {
            budgetMs: txn.budgetMs,
            wtimeoutMS: txn.wtimeoutMS,
            maxCommitTimeMS: txn.maxCommitTimeMS,
            retryable: isUnitRetryable,
            now,
          },
        ).then((value) => {
          const effects = unit!.effects;
          unit!.active = false;
          runEffects(effects);
          return value;
        });
      } catch (err) {
        if (unit) unit.active = false;
        if (unit && commitSent) runEffects(unit.ifUnknown);
        // The deployment answered "no transactions here" (before any write): as a standalone server.
        if (isTransactionUnsupported(err) || isTransactionUnsupported((err as { cause?: unknown }).cause))
          return direct(work);
        throw err;
      } finally {
        await session.endSession().catch(() => undefined);
      }
    },
    afterCommit(effect) {
      const u = units.getStore();
      if (u?.active) u.effects.push(effect);
      else runEffects([effect]);
    },
    ifCommitUnknown(effect) {
      const u = units.getStore();
      if (u?.active) u.ifUnknown.push(effect);
    },
    inTransaction: () => ambientSession() !== undefined,
    outside: (fn) => units.exit(fn),
  };
}
