// Hot-path caches, keyed by token hash (never plaintext), every one bounded in size and age.
// Entries hold store records; the introspector re-evaluates expiry and grace against the clock on
// every call, so a cached entry can never extend a token past its own expiry.
import { LRUCache } from "lru-cache";
import type { VerifiedJwt } from "../ports/jwt-verifier.js";
import type { KeyRecord, SessionRecord, TenantPolicyRecord } from "./records.js";

export type CachedToken =
  | { kind: "key"; record: KeyRecord }
  | { kind: "session"; record: SessionRecord }
  | { kind: "jwt"; claims: VerifiedJwt }
  | { kind: "jwt_rejected"; reason: "expired" | "unverified" | "malformed" | "unsupported" }
  | { kind: "absent" };

export interface TokenCacheOptions {
  /** Lifetime of store-backed entries: the cross-instance staleness bound. */
  ttlMs: number;
  /** Cap for found tokens (keys, sessions, verified JWTs). */
  maxEntries: number;
  /** Cap for not-found and rejected tokens (a flood of unknown tokens stays bounded). */
  maxNegativeEntries: number;
  /** Upper bound for a verified JWT's cache lifetime (also never past its exp). */
  jwtMaxTtlMs: number;
}

export const defaultTokenCacheOptions: TokenCacheOptions = {
  ttlMs: 2000,
  maxEntries: 100_000,
  maxNegativeEntries: 50_000,
  jwtMaxTtlMs: 5 * 60 * 1000,
};

/**
 * A cached entry with the time (performance.now() ms) after which it is gone, kept in the entry
 * itself: one LRU lookup without TTL bookkeeping per call. `answer` is the introspector's
 * memoized result for this entry (see introspector.ts), dropped with the entry.
 */
export interface CacheSlot<T> {
  readonly value: T;
  readonly until: number;
  answer?: unknown;
}

export interface TokenCache {
  get(hash: string): CachedToken | undefined;
  /** get() with the entry's deadline and memo slot: one lookup, no copy. */
  lookup(hash: string): CacheSlot<CachedToken> | undefined;
  /** getPolicy() with the entry's deadline. */
  lookupPolicy(tenantId: string): CacheSlot<TenantPolicyRecord> | undefined;
  set(hash: string, entry: CachedToken, ttlMs?: number): void;
  delete(hash: string): void;
  /** Drops the cached entry of an API key by its id (invalidation from another instance's change). */
  deleteKey(keyId: string): void;
  /** Drops the cached entry of a session by its id (a revoke, here or on another instance). */
  deleteSession(sessionId: string): void;
  /** Drops every cached session of a tenant (RevokeTenantSessions on this instance). */
  deleteTenantSessions(tenantId: string): void;
  /** Drops every cached session an admin key created (RevokeKey of that key on this instance). */
  deleteSessionsCreatedBy(createdBy: string): void;
  getPolicy(tenantId: string): TenantPolicyRecord | undefined;
  setPolicy(policy: TenantPolicyRecord): void;
  deletePolicy(tenantId: string): void;
  clear(): void;
  /**
   * Moves on at every invalidation (delete, deletePolicy, clear). A reader that started a store
   * read at an older epoch must not cache what it read: the record may predate the change that
   * invalidated it (a revoke racing an in-flight read).
   */
  readonly epoch: number;
  readonly options: TokenCacheOptions;
}

/** The clock of cache lifetimes: monotonic, as lru-cache's own TTL was. */
const monotonicNow = () => performance.now();

export function createTokenCache(options: Partial<TokenCacheOptions> = {}): TokenCache {
  const opts = { ...defaultTokenCacheOptions, ...options };
  const enabled = opts.ttlMs > 0;
  const ttl = Math.max(1, opts.ttlMs);
  // Key id (or session id) -> token hash of the cached key and session entries, so a change known
  // only by id (a change stream event) can invalidate; bounded by the positive cache, kept in step
  // by its dispose hook. Key ids (key_...) and session ids (ses_...) never collide.
  const hashById = new Map<string, string>();
  // Bounded by size; each slot carries its own deadline (checked on read), so a read is one
  // lookup. An expired slot is dropped when read, or evicted as the least recently used.
  const positive = new LRUCache<string, CacheSlot<CachedToken>>({
    max: Math.max(1, opts.maxEntries),
    dispose: (slot, hash) => {
      const value = slot.value;
      if ((value.kind === "key" || value.kind === "session") && hashById.get(value.record.id) === hash)
        hashById.delete(value.record.id);
    },
  });
  const negative = new LRUCache<string, CacheSlot<CachedToken>>({ max: Math.max(1, opts.maxNegativeEntries) });
  /** A key's or a session's entry, by its id. */
  const deleteById = (id: string) => {
    epoch++; // also stops an in-flight read of this token from caching what it read
    const hash = hashById.get(id);
    if (hash !== undefined) positive.delete(hash);
  };
  /** Bulk revocations (a tenant's sessions, an admin key's sessions): rare, one pass over the cache is fine. */
  const deleteSessionsWhere = (match: (s: SessionRecord) => boolean) => {
    epoch++;
    const drop: string[] = [];
    for (const [hash, slot] of positive.entries()) {
      if (slot.value.kind === "session" && match(slot.value.record)) drop.push(hash);
    }
    for (const hash of drop) positive.delete(hash);
  };
  const policies = new LRUCache<string, CacheSlot<TenantPolicyRecord>>({ max: Math.max(1, opts.maxEntries) });
  const isNegative = (e: CachedToken) => e.kind === "absent" || e.kind === "jwt_rejected";
  const live = <T>(c: LRUCache<string, CacheSlot<T>>, key: string): CacheSlot<T> | undefined => {
    const slot = c.get(key);
    if (slot === undefined) return undefined;
    if (slot.until > monotonicNow()) return slot;
    c.delete(key);
    return undefined;
  };
  const lookup = (hash: string) => (enabled ? (live(positive, hash) ?? live(negative, hash)) : undefined);
  const lookupPolicy = (tenantId: string) => (enabled ? live(policies, tenantId) : undefined);

  let epoch = 0;

  return {
    options: opts,
    get epoch() {
      return epoch;
    },
    get(hash) {
      return lookup(hash)?.value;
    },
    lookup,
    lookupPolicy,
    set(hash, entry, ttlMs) {
      if (!enabled || (ttlMs !== undefined && ttlMs <= 0)) return;
      const slot: CacheSlot<CachedToken> = { value: entry, until: monotonicNow() + (ttlMs ?? ttl) };
      (isNegative(entry) ? negative : positive).set(hash, slot);
      if (entry.kind === "key" || entry.kind === "session") hashById.set(entry.record.id, hash);
    },
    delete(hash) {
      epoch++;
      positive.delete(hash);
      negative.delete(hash);
    },
    deleteKey: deleteById,
    deleteSession: deleteById,
    deleteTenantSessions(tenantId) {
      deleteSessionsWhere((s) => s.tenantId === tenantId);
    },
    deleteSessionsCreatedBy(createdBy) {
      deleteSessionsWhere((s) => s.createdBy === createdBy);
    },
    getPolicy(tenantId) {
      return lookupPolicy(tenantId)?.value;
    },
    setPolicy(policy) {
      if (enabled) policies.set(policy.tenantId, { value: policy, until: monotonicNow() + ttl });
    },
    deletePolicy(tenantId) {
      epoch++;
      policies.delete(tenantId);
    },
    clear() {
      epoch++;
      positive.clear();
      negative.clear();
      policies.clear();
      hashById.clear();
    },
  };
}
