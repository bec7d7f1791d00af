// The indexes the store relies on, created at start with `createIndexes`.
//
// Idempotent and safe when several replicas start at once: the server answers "all indexes already
// exist" for a spec identical to an existing index (same name, key and options), and fails with
// IndexOptionsConflict (85) / IndexKeySpecsConflict (86) only when an index of the same name has a
// different spec, which a changed spec below must avoid by taking a new name.
// https://www.mongodb.com/docs/manual/reference/command/createIndexes/
//
// Names are explicit so duplicate-key errors can be attributed to an index by name.
import {
  type Collection,
  type Db,
  type IndexDescription,
  MongoClient,
  type MongoClientOptions,
  MongoServerError,
  ReadConcern,
  WriteConcern,
} from "mongodb";
import type { Logger } from "pino";
import { COLLECTIONS } from "./mongo-documents.js";
import { WEBHOOK_COLLECTIONS, WEBHOOK_ENDPOINT_INDEXES, WEBHOOK_OUTBOX_INDEXES } from "./mongo-webhook-store.js";

export const INDEX = {
  keyTokenHash: "keys_token_hash_unique",
  keyActiveSlot: "keys_tenant_active_slot_unique",
  keyGraceSlot: "keys_tenant_grace_slot_unique",
  keyTenantStatusCreated: "keys_tenant_status_created",
  keySweep: "keys_status_revoke_at",
  keyExpirySweep: "keys_status_expires_at",
  sessionTokenHash: "sessions_token_hash_unique",
  sessionTtl: "sessions_expires_at_ttl",
  sessionTenantExpires: "sessions_tenant_expires_at",
  sessionCreatedByExpires: "sessions_created_by_expires_at",
  auditTenant: "audit_tenant_id",
  auditTenantAction: "audit_tenant_action_id",
  auditDedupe: "audit_dedupe_key_unique",
  auditRetention: "audit_time_retention_ttl",
} as const;

export const KEY_INDEXES: IndexDescription[] = [
  // Introspect: one indexed read by token hash; and no two keys share a token.
  { name: INDEX.keyTokenHash, key: { tokenHash: 1 }, unique: true },
  // The active-keys limit. Only ACTIVE keys are in this index (partial filter, an equality, which
  // every server since 3.2 accepts in partialFilterExpression), and every ACTIVE key holds a slot in
  // 0..maxActive-1, so at most maxActive keys of a tenant can be ACTIVE at any instant, whatever
  // the number of concurrent writers: the unique index is checked by the server inside each
  // single-document write. A partial unique index constrains only the documents that match its
  // filter. https://www.mongodb.com/docs/manual/core/index-partial/#partial-index-with-unique-constraint
  {
    name: INDEX.keyActiveSlot,
    key: { tenantId: 1, slot: 1 },
    unique: true,
    partialFilterExpression: { status: "active" },
  },
  // The deprecated-keys limit, the same way: every DEPRECATED key a rotation makes holds a grace
  // slot in 0..maxDeprecated-1. `graceSlot: {$exists: true}` in the filter keeps keys deprecated
  // before this index existed (no graceSlot) out of it, so building it on an existing collection
  // cannot fail on them; they age out within their 72-hour grace.
  {
    name: INDEX.keyGraceSlot,
    key: { tenantId: 1, graceSlot: 1 },
    unique: true,
    partialFilterExpression: { status: "deprecated", graceSlot: { $exists: true } },
  },
  // ListKeys (a tenant's non-revoked keys, and its newest revoked ones; newest first, _id breaks
  // ties so the order is stable) and hasUsableKey ({tenantId, status} prefix). Lookups by
  // {_id, tenantId} use the _id index: _id is unique, so at most one document is fetched and the
  // tenantId check costs nothing; no extra {tenantId, _id} index is needed.
  { name: INDEX.keyTenantStatusCreated, key: { tenantId: 1, status: 1, createdAt: -1, _id: -1 } },
  // The sweep: DEPRECATED keys whose grace ended.
  { name: INDEX.keySweep, key: { status: 1, revokeAt: 1 } },
  // Issue 22, the expiry sweep (and webhooks' key.expiring schedule, mongo-webhook-store.ts): ACTIVE or DEPRECATED keys whose expiresAt passed, earliest first.
  // Partial: only keys with an expiry are in it (most keys have none).
  {
    name: INDEX.keyExpirySweep,
    key: { status: 1, expiresAt: 1 },
    partialFilterExpression: { expiresAt: { $exists: true } },
  },
];

export const SESSION_INDEXES: IndexDescription[] = [
  { name: INDEX.sessionTokenHash, key: { tokenHash: 1 }, unique: true },
  // TTL: the server's TTL monitor (on the primary, about every 60 s) deletes sessions some time
  // after expiresAt. It frees space only; reads check expiry themselves.
  // https://www.mongodb.com/docs/manual/core/index-ttl/
  { name: INDEX.sessionTtl, key: { expiresAt: 1 }, expireAfterSeconds: 0 },
  // RevokeTenantSessions: one tenant's live sessions (expiresAt > the revoke time), walked in
  // batches in expiresAt order (mongo-session-revoke.ts), never every tenant's sessions.
  { name: INDEX.sessionTenantExpires, key: { tenantId: 1, expiresAt: 1 } },
  // RevokeKey of an admin key: the live sessions that key created, on every tenant, walked the same
  // way (mongo-session-revoke.ts, createCreatorSessionRevoke).
  { name: INDEX.sessionCreatedByExpires, key: { createdBy: 1, expiresAt: 1 } },
];

export const AUDIT_INDEXES: IndexDescription[] = [
  // ListAuditEvents: a tenant's events newest first (_id is time-ordered; since/until/cursor are
  // _id bounds), with or without an action filter: one index range each, no blocking sort.
  { name: INDEX.auditTenant, key: { tenantId: 1, _id: -1 } },
  { name: INDEX.auditTenantAction, key: { tenantId: 1, action: 1, _id: -1 } },
  // Service actions recorded once across replicas (the grace-end revocation of a key).
  {
    name: INDEX.auditDedupe,
    key: { dedupeKey: 1 },
    unique: true,
    partialFilterExpression: { dedupeKey: { $exists: true } },
  },
];

/**
 * AUDIT_RETENTION_DAYS: a TTL index on `time` when set; none when unset (keep forever). Called only
 * when the TTL index is not already as configured. A changed value drops the index and creates it
 * again: both are in the readWrite role (dropIndex, createIndex), while `collMod`, the manual's way
 * to change expireAfterSeconds in place, needs dbAdmin, which this service does not ask for.
 * Between the two commands no TTL index exists: the TTL monitor deletes nothing for that moment,
 * and no event is lost. Unset after having been set, the TTL index is dropped, so events are kept
 * from then on. Several replicas doing this at once end with the same index (a drop of an index
 * already dropped is IndexNotFound, a create of an identical one does nothing).
 * https://www.mongodb.com/docs/manual/core/index-ttl/
 * https://www.mongodb.com/docs/manual/reference/built-in-roles/#mongodb-authrole-readWrite
 */
export async function ensureAuditRetention(db: Db, retentionDays: number | undefined, existing = true): Promise<void> {
  const coll = db.collection(COLLECTIONS.audit);
  if (existing) {
    try {
      await coll.dropIndex(INDEX.auditRetention);
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (code !== 27 && code !== 26) throw err; // IndexNotFound, NamespaceNotFound: nothing to drop
    }
  }
  if (retentionDays === undefined) return;
  const expireAfterSeconds = retentionDays * 86_400;
  await coll.createIndexes([{ name: INDEX.auditRetention, key: { time: 1 }, expireAfterSeconds }]);
}

/**
 * An index of ours conflicts with one already there: the same name with another spec, or the same
 * keys under another name (IndexOptionsConflict 85 / IndexKeySpecsConflict 86). A configuration
 * error an operator must fix; retrying cannot help.
 */
export class IndexConflictError extends Error {
  constructor(
    readonly collection: string,
    readonly index: string,
    serverMessage: string,
  ) {
    super(
      `MongoDB index conflict on ${collection}.${index}: ${serverMessage}. An index with the same keys or name but another ` +
        `definition exists; drop it (db.${collection}.dropIndex(<its name>)) or build ${index} as documented in docs/mongodb.md, then restart the service`,
    );
    this.name = "IndexConflictError";
  }
}

const isConflict = (err: unknown) => err instanceof MongoServerError && (err.code === 85 || err.code === 86);
const isNamespaceNotFound = (err: unknown) => err instanceof MongoServerError && err.code === 26;

/** Is `spec` among `existing` exactly (name, keys in order, and the options we set)? */
function present(spec: IndexDescription, existing: readonly Record<string, unknown>[]): boolean {
  const found = existing.find((i) => i["name"] === spec.name);
  if (!found) return false;
  const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
  return (
    same(Object.entries(found["key"] as object), Object.entries(spec.key as object)) &&
    Boolean(found["unique"]) === Boolean(spec.unique) &&
    same(found["partialFilterExpression"], spec.partialFilterExpression) &&
    same(found["expireAfterSeconds"], spec.expireAfterSeconds)
  );
}

async function listIndexes(coll: Collection): Promise<Record<string, unknown>[]> {
  try {
    return (await coll.listIndexes().toArray()) as Record<string, unknown>[];
  } catch (err) {
    if (isNamespaceNotFound(err)) return []; // the collection does not exist yet
    throw err;
  }
}

/**
 * Creates the collections and every index, skipping the build when `listIndexes` already shows each
 * exact spec (every start after the first: no build, nothing that can outlast a socket timeout).
 * Missing indexes are built one by one on `build` (the caller's connection without a socket
 * timeout: a build on a populated collection, or one waiting for a voting member that is down,
 * can take far longer than an ordinary operation), so a conflict names its index. Throws
 * IndexConflictError on a conflict, anything else on other failures (the caller retries).
 */
export async function ensureIndexes(
  db: Db,
  opts: { auditRetentionDays?: number | undefined; build?: () => Promise<Db> } = {},
): Promise<{ built: string[] }> {
  const build = opts.build ?? (async () => db);
  const built: string[] = [];
  let buildDb: Db | undefined;
  const listed = new Map<string, Record<string, unknown>[]>();
  for (const [name, specs] of [
    [COLLECTIONS.keys, KEY_INDEXES],
    [COLLECTIONS.sessions, SESSION_INDEXES],
    [COLLECTIONS.audit, AUDIT_INDEXES],
    [WEBHOOK_COLLECTIONS.endpoints, WEBHOOK_ENDPOINT_INDEXES],
    [WEBHOOK_COLLECTIONS.outbox, WEBHOOK_OUTBOX_INDEXES],
  ] as const) {
    const existing = await listIndexes(db.collection(name));
    listed.set(name, existing);
    for (const spec of specs) {
      if (present(spec, existing)) continue;
      buildDb ??= await build();
      try {
        await buildDb.collection(name).createIndexes([spec]);
      } catch (err) {
        if (isConflict(err)) throw new IndexConflictError(name, spec.name!, (err as Error).message);
        throw err;
      }
      built.push(spec.name!);
    }
  }
  // AUDIT_RETENTION_DAYS: only when the TTL index is not already as configured.
  const days = opts.auditRetentionDays;
  const retention = listed.get(COLLECTIONS.audit)!.find((i) => i["name"] === INDEX.auditRetention);
  if (days === undefined ? retention !== undefined : retention?.["expireAfterSeconds"] !== days * 86_400) {
    await ensureAuditRetention(days === undefined ? db : (buildDb ?? (await build())), days, retention !== undefined);
    if (days !== undefined) built.push(INDEX.auditRetention);
  }
  // tenant_policies is keyed by _id (the tenant id): its built-in _id index is all it needs. Create
  // the collection anyway so an operator sees all three at once.
  try {
    await db.createCollection(COLLECTIONS.policies);
  } catch (err) {
    if ((err as { code?: unknown }).code !== 48) throw err; // 48 NamespaceExists: already there
  }
  return { built };
}

/**
 * Runs `fn` with a way to open a short-lived connection for index builds, without the socket
 * timeout: a build on a populated collection, or one waiting for a voting member that is down,
 * takes longer than the 5 s that bound ordinary operations. Opened only if `fn` asks; closed after.
 */
export async function withIndexBuildConnection<T>(
  uri: string,
  options: MongoClientOptions,
  dbName: string,
  log: Logger | undefined,
  fn: (open: () => Promise<Db>) => Promise<T>,
  signal?: AbortSignal,
): Promise<T> {
  let builder: MongoClient | undefined;
  // Shutdown closes the build connection: its in-flight createIndexes fails at once (the server
  // goes on with a build already started), so nothing waits on a command without a socket timeout.
  const stop = () => void builder?.close().catch(() => undefined);
  signal?.addEventListener("abort", stop);
  try {
    return await fn(async () => {
      if (signal?.aborted) throw new Error("MongoDB connection closed: no index build started");
      builder = new MongoClient(uri, { ...options, socketTimeoutMS: 0, appName: "warpflow-token-service-indexes" });
      await builder.connect();
      log?.info("building MongoDB indexes (no socket timeout; NOT_SERVING until done)");
      return builder.db(dbName, { writeConcern: new WriteConcern("majority"), readConcern: new ReadConcern("local") });
    });
  } finally {
    signal?.removeEventListener("abort", stop);
    await builder?.close().catch(() => undefined);
  }
}
