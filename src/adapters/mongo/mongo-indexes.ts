import type { Db, IndexDescription } from "mongodb";
import { COLLECTIONS } from "./mongo-documents.js";

/**
 * The indexes the store relies on, created at start with `createIndexes`.
 *
 * Idempotent and safe when several replicas start at once: the server answers "all indexes already
 * exist" for a spec identical to an existing index (same name, key and options), and fails with
 * IndexOptionsConflict (85) / IndexKeySpecsConflict (86) only when an index of the same name has a
 * different spec, which a changed spec below must avoid by taking a new name.
 * https://www.mongodb.com/docs/manual/reference/command/createIndexes/
 *
 * Names are explicit so duplicate-key errors can be attributed to an index by name.
 */
export const INDEX = {
  keyTokenHash: "keys_token_hash_unique",
  keyActiveSlot: "keys_tenant_active_slot_unique",
  keyTenantStatusCreated: "keys_tenant_status_created",
  keySweep: "keys_status_revoke_at",
  sessionTokenHash: "sessions_token_hash_unique",
  sessionTtl: "sessions_expires_at_ttl",
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
  // ListKeys (a tenant's non-revoked keys, and its newest revoked ones; newest first, _id breaks
  // ties so the order is stable) and hasUsableKey ({tenantId, status} prefix). Lookups by
  // {_id, tenantId} use the _id index: _id is unique, so at most one document is fetched and the
  // tenantId check costs nothing; no extra {tenantId, _id} index is needed.
  { name: INDEX.keyTenantStatusCreated, key: { tenantId: 1, status: 1, createdAt: -1, _id: -1 } },
  // The sweep: DEPRECATED keys whose grace ended.
  { name: INDEX.keySweep, key: { status: 1, revokeAt: 1 } },
];

export const SESSION_INDEXES: IndexDescription[] = [
  { name: INDEX.sessionTokenHash, key: { tokenHash: 1 }, unique: true },
  // TTL: the server's TTL monitor (on the primary, about every 60 s) deletes sessions some time
  // after expiresAt. It frees space only; reads check expiry themselves.
  // https://www.mongodb.com/docs/manual/core/index-ttl/
  { name: INDEX.sessionTtl, key: { expiresAt: 1 }, expireAfterSeconds: 0 },
];

export const AUDIT_INDEXES: IndexDescription[] = [
  // ListAuditEvents: a tenant's events newest first (_id is time-ordered; since/until/cursor are
  // _id bounds), with or without an action filter: one index range each, no blocking sort.
  { name: INDEX.auditTenant, key: { tenantId: 1, _id: -1 } },
  { name: INDEX.auditTenantAction, key: { tenantId: 1, action: 1, _id: -1 } },
  // Service actions recorded once across replicas (the grace-end revocation of a key).
  { name: INDEX.auditDedupe, key: { dedupeKey: 1 }, unique: true, partialFilterExpression: { dedupeKey: { $exists: true } } },
];

/**
 * AUDIT_RETENTION_DAYS: a TTL index on `time` when set; none when unset (keep forever). A changed
 * value is applied with collMod (an index of the same name with other options cannot be created);
 * unset after having been set, the TTL index is dropped, so events are kept from then on.
 * https://www.mongodb.com/docs/manual/core/index-ttl/#change-the-expireafterseconds-value-for-a-ttl-index
 */
export async function ensureAuditRetention(db: Db, retentionDays: number | undefined): Promise<void> {
  const coll = db.collection(COLLECTIONS.audit);
  if (retentionDays === undefined) {
    try {
      await coll.dropIndex(INDEX.auditRetention);
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (code !== 27 && code !== 26) throw err; // IndexNotFound, NamespaceNotFound: nothing to drop
    }
    return;
  }
  const expireAfterSeconds = retentionDays * 86_400;
  try {
    await coll.createIndexes([{ name: INDEX.auditRetention, key: { time: 1 }, expireAfterSeconds }]);
  } catch (err) {
    if ((err as { code?: unknown }).code !== 85) throw err; // IndexOptionsConflict: another retention
    await db.command({ collMod: COLLECTIONS.audit, index: { name: INDEX.auditRetention, expireAfterSeconds } });
  }
}

/** Creates the collections (implicitly) and every index. Throws on any failure; the caller retries. */
export async function ensureIndexes(db: Db, opts: { auditRetentionDays?: number | undefined } = {}): Promise<void> {
  await db.collection(COLLECTIONS.keys).createIndexes(KEY_INDEXES);
  await db.collection(COLLECTIONS.sessions).createIndexes(SESSION_INDEXES);
  await db.collection(COLLECTIONS.audit).createIndexes(AUDIT_INDEXES);
  await ensureAuditRetention(db, opts.auditRetentionDays);
  // tenant_policies is keyed by _id (the tenant id): its built-in _id index is all it needs. Create
  // the collection anyway so an operator sees all three at once.
  try {
    await db.createCollection(COLLECTIONS.policies);
  } catch (err) {
    if ((err as { code?: unknown }).code !== 48) throw err; // 48 NamespaceExists: already there
  }
}
