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

export interface TokenCache {
  get(hash: string): CachedToken | undefined;
  set(hash: string, entry: CachedToken, ttlMs?: number): void;
  delete(hash: string): void;
  /** Drops the cached entry of an API key by its id (invalidation from another instance's change). */
  deleteKey(keyId: string): void;
  /** Drops the cached entry of a session by its id (a revoke, here or on another instance). */
  deleteSession(sessionId: string): void;
  /** Drops every cached session of a tenant (RevokeTenantSessions on this instance). */
  deleteTenantSessions(tenantId: string): void;
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

export function createTokenCache(options: Partial<TokenCacheOptions> = {}): TokenCache {
  const opts = { ...defaultTokenCacheOptions, ...options };
  const enabled = opts.ttlMs > 0;
  // Key id (or session id) -> token hash of the cached key and session entries, so a change known
  // only by id (a change stream event) can invalidate; bounded by the positive cache, kept in step
  // by its dispose hook. Key ids (key_...) and session ids (ses_...) never collide.
  const hashById = new Map<string, string>();
  const positive = new LRUCache<string, CachedToken>({
    max: Math.max(1, opts.maxEntries),
    ttl: Math.max(1, opts.ttlMs),
    dispose: (value, hash) => {
      if ((value.kind === "key" || value.kind === "session") && hashById.get(value.record.id) === hash)
        hashById.delete(value.record.id);
    },
  });
  const negative = new LRUCache<string, CachedToken>({
    max: Math.max(1, opts.maxNegativeEntries),
    ttl: Math.max(1, opts.ttlMs),
  });
  /** A key's or a session's entry, by its id. */
  const deleteById = (id: string) => {
    epoch++; // also stops an in-flight read of this token from caching what it read
    const hash = hashById.get(id);
    if (hash !== undefined) positive.delete(hash);
  };
  const policies = new LRUCache<string, TenantPolicyRecord>({
    max: Math.max(1, opts.maxEntries),
    ttl: Math.max(1, opts.ttlMs),
  });
  const isNegative = (e: CachedToken) => e.kind === "absent" || e.kind === "jwt_rejected";

  let epoch = 0;

  return {
    options: opts,
    get epoch() {
      return epoch;
    },
    get(hash) {
      if (!enabled) return undefined;
      return positive.get(hash) ?? negative.get(hash);
    },
    set(hash, entry, ttlMs) {
      if (!enabled || (ttlMs !== undefined && ttlMs <= 0)) return;
      (isNegative(entry) ? negative : positive).set(hash, entry, ttlMs === undefined ? undefined : { ttl: ttlMs });
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
      epoch++;
      // A rare incident-response call: one pass over the cache is fine.
      const drop: string[] = [];
      for (const [hash, entry] of positive.entries()) {
        if (entry.kind === "session" && entry.record.tenantId === tenantId) drop.push(hash);
      }
      for (const hash of drop) positive.delete(hash);
    },
    getPolicy(tenantId) {
      return enabled ? policies.get(tenantId) : undefined;
    },
    setPolicy(policy) {
      if (enabled) policies.set(policy.tenantId, policy);
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
