import { type AnyBulkWriteOperation, type Collection, type Db, ReadPreference } from "mongodb";
import { LAST_USED_COARSENESS_MS, type TokenStore } from "../../ports/token-store.js";
import { createMongoConnection, type MongoConnectionOptions } from "./mongo-connection.js";
import {
  COLLECTIONS,
  fromKeyDoc,
  fromPolicyDoc,
  fromSessionDoc,
  type AuditDoc,
  type KeyDoc,
  type PolicyDoc,
  type SessionDoc,
  toPolicyDoc,
  toSessionDoc,
} from "./mongo-documents.js";
import { isDuplicateKey, toStoreError } from "./mongo-errors.js";
import { createMongoChangeFeed } from "./mongo-change-feed.js";
import { createKeySlotOps } from "./mongo-key-slots.js";
import { createMongoAuditEvents } from "./mongo-audit-events.js";
import { createMongoLeases, LEASES_COLLECTION, type LeaseDoc } from "./mongo-leases.js";
import { createCreatorSessionRevoke, createSessionRevoke, sessionRevokeBudgetMs } from "./mongo-session-revoke.js";
import type { StoreChangeFeed } from "../../ports/store-changes.js";
import type { WebhookStore } from "../../ports/webhook-store.js";
import { createMongoWebhookStore } from "./mongo-webhook-store.js";
import { createMongoKeyLifecycle } from "./mongo-key-lifecycle.js";
import type { UnitOfWork } from "../../ports/unit-of-work.js";
import { bindUnit, createMongoUnitOfWork } from "./mongo-unit-of-work.js";

/** recordKeyUses' filter: the key, if its stored last use is missing or older than `at` by more than the coarseness. */
export const lastUseFilter = (keyId: string, at: Date) => ({
  _id: keyId,
  $or: [{ lastUsedAt: { $lt: new Date(at.getTime() - LAST_USED_COARSENESS_MS) } }, { lastUsedAt: { $exists: false } }],
});

/** The connection string (MONGODB_URI; its own timeout options win), MONGODB_DB, and test overrides. */
export type MongoTokenStoreOptions = MongoConnectionOptions & {
  /** RevokeTenantSessions: its own time budget (default: sessionRevokeBudgetMs of the store deadline) and batch size. */
  sessionRevoke?: { budgetMs?: number | undefined; batchSize?: number | undefined } | undefined;
};

/**
 * The production store: MongoDB through the official driver. Returns at once and connects in the
 * background (see mongo-connection.ts); until connected with its indexes, every call rejects with
 * StoreUnavailableError, as does any call MongoDB cannot answer. Collections: keys, sessions,
 * tenant_policies (mongo-documents.ts); indexes: mongo-indexes.ts; the active-keys limit and the
 * key transitions: mongo-key-slots.ts.
 */
export function createMongoTokenStore(options: MongoTokenStoreOptions): TokenStore {
  return createMongoStore(options).store;
}

/** The store and, on the same connection, the change feed that invalidates other instances' caches. */
export function createMongoStore(options: MongoTokenStoreOptions): {
  store: TokenStore;
  changes: StoreChangeFeed;
  webhooks: WebhookStore;
  /** Admin change + audit completion + outbox messages in one transaction on replica sets (issue 24). */
  unit: UnitOfWork;
} {
  const conn = createMongoConnection(options);
  // The settle time of a closed stream follows the client's effective serverSelectionTimeoutMS
  // (a connection-string value wins in the driver), read from the client by the feed.
  const changes = createMongoChangeFeed(() => conn.db(), { logger: options.logger });
  const { maxTimeMS, maintenanceMaxTimeMS } = conn.timeouts;
  // Every collection of the store joins the caller's unit of work, if any (mongo-unit-of-work.ts).
  const db = async () => bindUnit(await conn.db());
  const keys = async (): Promise<Collection<KeyDoc>> => (await db()).collection<KeyDoc>(COLLECTIONS.keys);
  const sessions = async () => (await db()).collection<SessionDoc>(COLLECTIONS.sessions);
  const policies = async () => (await db()).collection<PolicyDoc>(COLLECTIONS.policies);
  const slots = createKeySlotOps(keys, maxTimeMS, {
    startSession: async () => (await conn.db()).client.startSession(),
    supported: () => conn.transactionsSupported(),
    budgetMs: conn.timeouts.transactionBudgetMS,
    wtimeoutMS: conn.timeouts.wtimeoutMS,
  });

  // Introspect's lookups. "linearizable": the primary confirms with a majority that it still is the
  // primary before answering, so a deposed primary cannot serve a key revoked on the new one
  // (one majority round trip per cache miss). https://www.mongodb.com/docs/manual/reference/read-concern-linearizable/
  const lookup =
    options.introspectReadConcern === "linearizable"
      ? { maxTimeMS, readConcern: { level: "linearizable" as const } }
      : { maxTimeMS };

  /** Runs one store operation, mapping "MongoDB could not answer" to StoreUnavailableError. */
  async function run<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw toStoreError(err, operation);
    }
  }

  // The store deadline (STORE_TIMEOUT_MS, passed as the transaction budget): the revoke reports before it.
  const sessionRevoke = {
    budgetMs: options.sessionRevoke?.budgetMs ?? sessionRevokeBudgetMs(conn.timeouts.transactionBudgetMS),
    maxTimeMS: maintenanceMaxTimeMS,
    batchSize: options.sessionRevoke?.batchSize,
  };
  const revokeTenantSessions = createSessionRevoke(sessions, sessionRevoke);
  const revokeSessionsCreatedBy = createCreatorSessionRevoke(sessions, sessionRevoke);

  const audit = createMongoAuditEvents(
    async () => (await db()).collection<AuditDoc>(COLLECTIONS.audit),
    maxTimeMS,
    run,
  );

  const { setPolicyFields, ...lifecycle } = createMongoKeyLifecycle(
    keys,
    policies,
    { maxTimeMS, maintenanceMaxTimeMS },
    run,
  );

  const store: TokenStore = {
    ...audit,
    ...lifecycle,
    ...createMongoLeases(async () => (await db()).collection<LeaseDoc>(LEASES_COLLECTION), maxTimeMS, run),
    insertKey: (key, maxActive) => run("insertKey", () => slots.insertKey(key, maxActive)),
    rotateKey: (args) => run("rotateKey", () => slots.rotateKey(args)),
    revokeKey: (args) => run("revokeKey", () => slots.revokeKey(args)),

    findKeyByHash: (tokenHash) =>
      run("findKeyByHash", async () => {
        const doc = await (await keys()).findOne({ tokenHash }, lookup);
        return doc ? fromKeyDoc(doc) : null;
      }),

    getKey: (tenantId, keyId) =>
      run("getKey", async () => {
        const doc = await (await keys()).findOne({ _id: keyId, tenantId }, { maxTimeMS });
        return doc ? fromKeyDoc(doc) : null;
      }),

    listKeys: (tenantId, revokedLimit) =>
      run("listKeys", async () => {
        const coll = await keys();
        const sort = { createdAt: -1, _id: -1 } as const;
        // Two reads on one index ({tenantId, status, createdAt, _id}): every key not REVOKED (a
        // merge of two index ranges, already in order), and the newest REVOKED ones.
        const [live, revoked] = await Promise.all([
          coll.find({ tenantId, status: { $in: ["active", "deprecated"] } }, { sort, maxTimeMS }).toArray(),
          // limit(0) would mean "no limit" to MongoDB
          revokedLimit > 0
            ? coll.find({ tenantId, status: "revoked" }, { sort, limit: revokedLimit, maxTimeMS }).toArray()
            : Promise.resolve([]),
        ]);
        const newestFirst = (a: KeyDoc, b: KeyDoc) =>
          b.createdAt.getTime() - a.createdAt.getTime() || (a._id < b._id ? 1 : a._id > b._id ? -1 : 0);
        return [...live, ...revoked].sort(newestFirst).map(fromKeyDoc);
      }),

    hasUsableKey: (tenantId, now) =>
      run("hasUsableKey", async () => {
        const doc = await (await keys()).findOne(
          { tenantId, $or: [{ status: "active" }, { status: "deprecated", revokeAt: { $gt: now } }] },
          { projection: { _id: 1 }, maxTimeMS },
        );
        return doc !== null;
      }),

    recordKeyUses: (uses) =>
      run("recordKeyUses", async () => {
        if (uses.length === 0) return;
        // One unordered bulk write per flush; $max so an older time never overwrites a newer one
        // (a missing lastUsedAt is set). No upsert: an unknown key id matches nothing.
        // https://www.mongodb.com/docs/manual/reference/operator/update/max/
        // Coarseness: only a stored value older than `at - LAST_USED_COARSENESS_MS` (or none) is
        // written. With many instances flushing the same busy key every second, a write that moves
        // lastUsedAt by less is skipped on the server: no oplog entry, no change event.
        const ops: AnyBulkWriteOperation<KeyDoc>[] = uses.map(({ keyId, at }) => ({
          updateOne: { filter: lastUseFilter(keyId, at), update: { $max: { lastUsedAt: at } } },
        }));
        await (await keys()).bulkWrite(ops, { ordered: false, maxTimeMS: maintenanceMaxTimeMS });
      }),

    insertSession: (session) =>
      run("insertSession", async () => {
        await (await sessions()).insertOne(toSessionDoc(session), { maxTimeMS });
      }),

    deleteExpiredSessions: (now) =>
      run("deleteExpiredSessions", async () => {
        const r = await (await sessions()).deleteMany(
          { expiresAt: { $lte: now } },
          { maxTimeMS: maintenanceMaxTimeMS },
        );
        return r.deletedCount;
      }),

    findSessionByHash: (tokenHash) =>
      run("findSessionByHash", async () => {
        const doc = await (await sessions()).findOne({ tokenHash }, lookup);
        return doc ? fromSessionDoc(doc) : null;
      }),

    // --- Session revocation and grace expiry (issue 12) ---
    revokeSession: ({ tenantId, sessionId, revokedAt, revokedBy }) =>
      run("revokeSession", async () => {
        const coll = await sessions();
        // Matches only a session not yet revoked: a second revoke changes nothing.
        const after = await coll.findOneAndUpdate(
          { _id: sessionId, tenantId, revokedAt: { $exists: false } },
          { $set: { revokedAt, revokedBy } },
          { returnDocument: "after", maxTimeMS },
        );
        if (after) return fromSessionDoc(after);
        const current = await coll.findOne({ _id: sessionId, tenantId }, { maxTimeMS });
        return current ? fromSessionDoc(current) : null;
      }),

    // In batches under its own budget; a partial revoke is PartialRevocationError (mongo-session-revoke.ts).
    revokeTenantSessions: (args) => run("revokeTenantSessions", () => revokeTenantSessions(args)),
    // RevokeKey of an admin key: the same batches, on {createdBy, expiresAt}.
    revokeSessionsCreatedBy: (args) => run("revokeSessionsCreatedBy", () => revokeSessionsCreatedBy(args)),

    findExpiredKeys: (now, limit) =>
      run("findExpiredKeys", async () => {
        if (limit <= 0) return [];
        const docs = await (await keys())
          .find(
            { status: "deprecated", revokeAt: { $lte: now } },
            { sort: { revokeAt: 1 }, limit, maxTimeMS: maintenanceMaxTimeMS },
          )
          .toArray();
        return docs.map(fromKeyDoc);
      }),

    getPolicy: (tenantId) =>
      run("getPolicy", async () => {
        const doc = await (await policies()).findOne({ _id: tenantId }, { maxTimeMS });
        return doc ? fromPolicyDoc(doc) : null;
      }),

    setPolicy: (policy, fields) =>
      fields
        ? setPolicyFields(policy, fields)
        : run("setPolicy", async () => {
            const coll = await policies();
            const doc = toPolicyDoc(policy);
            const write = () => coll.replaceOne({ _id: doc._id }, doc, { upsert: true, maxTimeMS });
            try {
              await write();
            } catch (err) {
              // Two concurrent first upserts of one tenant: one inserts, the other may get E11000 on
              // _id (servers 4.2+ retry this themselves for equality on _id); once more is enough.
              // https://www.mongodb.com/docs/manual/reference/method/db.collection.updateOne/#upsert-with-duplicate-values
              if (!isDuplicateKey(err)) throw err;
              await write();
            }
            return fromPolicyDoc(doc);
          }),

    ping: () =>
      run("ping", async () => {
        const db: Db = await conn.db();
        // Readiness asks "can this instance serve?", not "is there a primary?": any member will do
        // (cached answers, and reads once a primary is back). Bounded by serverSelectionTimeoutMS.
        await db.command({ ping: 1 }, { readPreference: ReadPreference.PRIMARY_PREFERRED });
      }),

    close: () => conn.close(),
  };
  const unit = createMongoUnitOfWork({
    startSession: async () => (await conn.db()).client.startSession(),
    supported: () => conn.transactionsSupported(),
    budgetMs: conn.timeouts.transactionBudgetMS,
    wtimeoutMS: conn.timeouts.wtimeoutMS,
    maxCommitTimeMS: maxTimeMS,
  });
  return { store, changes, webhooks: createMongoWebhookStore(db, maxTimeMS, run), unit };
}
