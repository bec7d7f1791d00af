import type { Clock } from "../ports/clock.js";
import type { JwtVerifier } from "../ports/jwt-verifier.js";
import type { TokenStore } from "../ports/token-store.js";
import { DomainError } from "./errors.js";
import { inactive, type Introspection } from "./introspection.js";
import type { LastUsedRecorder } from "./last-used-recorder.js";
import { defaultPolicy, type KeyRecord, type SessionRecord, type TenantPolicyRecord } from "./records.js";
import { ADMIN_TENANT_ID } from "./tenant-id.js";
import type { CacheSlot, CachedToken, TokenCache } from "./token-cache.js";
import { looksLikeJwt, MAX_TOKEN_LENGTH, parseToken } from "./token-format.js";
import { hashToken } from "./token-hash.js";
import { addressRefused, scopeRefused, type IntrospectChecks } from "./access-checks.js";
import { keyDeadline, keyInactiveReason } from "./key-expiry.js";

export interface IntrospectorDeps {
  store: TokenStore;
  clock: Clock;
  cache: TokenCache;
  lastUsed: LastUsedRecorder;
  jwt: JwtVerifier;
  /** Issue 22: told of every API key answered active (retire-on-first-use: first-use-retirement.ts). */
  onKeyUse?: ((key: KeyRecord) => void) | undefined;
  /** Observability hooks; optional so the domain stays free of a metrics library. */
  observe?: {
    cache?(tokenType: string, hit: boolean): void;
    storeRead?(): void;
  };
}

export interface Introspector {
  /**
   * Resolves a token. Throws DomainError("invalid_argument") for an empty token and
   * StoreUnavailableError when the store cannot answer; every other outcome is a value.
   */
  introspect(token: string, expectedTenantId?: string, checks?: IntrospectChecks): Promise<Introspection>;
  /**
   * The hot path's synchronous form: the answer when everything it needs is cached (token entry,
   * tenant policy) or needs no cache (malformed), else undefined (call introspect). Same result,
   * same side effects (last-used, metrics hooks) as introspect. The answer is shared by every call
   * it serves until its deadline: never mutate it; `encoded` is a slot for a transport's encoding
   * of `result` (the same bytes for every call the answer serves).
   */
  introspectCached?(token: string, expectedTenantId?: string, checks?: IntrospectChecks): CachedAnswer | undefined;
}

/**
 * A result kept with its cache entry: valid while the entry lives (its own deadline), the clock
 * is before `clockUntil` (the token's expiry or grace end), the policy entry lives
 * (`monotonicUntil`) and no invalidation happened (`epoch`).
 */
export interface CachedAnswer {
  readonly result: Introspection;
  readonly clockUntil: number;
  readonly monotonicUntil: number;
  readonly epoch: number;
  encoded: unknown;
}

const FOREVER = Number.POSITIVE_INFINITY;
const constantAnswer = (result: Introspection): CachedAnswer => ({
  result,
  clockUntil: FOREVER,
  monotonicUntil: FOREVER,
  epoch: -1,
  encoded: undefined,
});
const MALFORMED_ANSWER = constantAnswer(inactive("malformed"));
const AWAITING_USE_MAX = 10_000;
const MISMATCH_ANSWER = constantAnswer(inactive("tenant_mismatch"));
// The answers of issue 22's per-request checks: constant, so a cached answer's encoded bytes are
// never served to a request whose checks refuse it.
const REFUSED_ANSWERS = {
  address_not_allowed: constantAnswer(inactive("address_not_allowed")),
  insufficient_scope: constantAnswer(inactive("insufficient_scope")),
} as const;

/**
 * The hot path is synchronous while everything it needs is cached (token entry, tenant policy):
 * one promise per call (introspect's own), no awaits. Only a cache miss goes to the store, and
 * concurrent misses on one token share one store read (single flight), so the store sees at most
 * one read per distinct token per cache lifetime however many calls arrive meanwhile.
 */
export function createIntrospector(deps: IntrospectorDeps): Introspector {
  /** Successors answered active whose first granted use retires their predecessor (bounded). */
  const awaitingUse = new Map<string, KeyRecord>();
  const { store, clock, cache, lastUsed, jwt, observe } = deps;
  const NOT_FOUND = (): Introspection => inactive("not_found");

  /** In-flight store reads by cache key, with the cache epoch they started at. */
  const reads = new Map<string, { epoch: number; promise: Promise<unknown> }>();

  /**
   * Reads through the cache, one read per key at a time. What was read is cached only if nothing
   * was invalidated meanwhile (the cache epoch did not move): a record read before a revoke must
   * not outlive it. A read started before an invalidation is not joined by later calls either.
   */
  function readThrough<T>(key: string, read: () => Promise<T>, fill: (value: T) => void): Promise<T> {
    const epoch = cache.epoch;
    const pending = reads.get(key);
    if (pending && pending.epoch === epoch) return pending.promise as Promise<T>;
    observe?.storeRead?.();
    const promise = read().then(
      (value) => {
        if (reads.get(key)?.promise === promise) reads.delete(key);
        if (cache.epoch === epoch) fill(value);
        return value;
      },
      (err: unknown) => {
        if (reads.get(key)?.promise === promise) reads.delete(key);
        throw err;
      },
    );
    reads.set(key, { epoch, promise });
    return promise;
  }

  function loadToken(kind: "key" | "session", hash: string): Promise<CachedToken> {
    return readThrough<CachedToken>(
      hash,
      async () => {
        const record = kind === "key" ? await store.findKeyByHash(hash) : await store.findSessionByHash(hash);
        return record
          ? kind === "key"
            ? { kind: "key", record: record as KeyRecord }
            : { kind: "session", record: record as SessionRecord }
          : { kind: "absent" };
      },
      (entry) => cache.set(hash, entry),
    );
  }

  function loadPolicy(tenantId: string): Promise<TenantPolicyRecord> {
    return readThrough<TenantPolicyRecord>(
      `policy\u0000${tenantId}`,
      async () => (await store.getPolicy(tenantId)) ?? defaultPolicy(tenantId),
      (policy) => cache.setPolicy(policy),
    );
  }

  function keyResult(entry: CachedToken, tenantId: string, now: Date): Introspection | Promise<Introspection> {
    if (entry.kind !== "key" || entry.record.tenantId !== tenantId) return NOT_FOUND();
    const key = entry.record;
    const ended = keyInactiveReason(key, now); // revoked, expired or suspended: values in the entry
    if (ended !== undefined) return endedAnswer(key, ended);
    const admin = key.tenantId === ADMIN_TENANT_ID;
    if (!admin) {
      const policy = cache.getPolicy(key.tenantId);
      if (policy === undefined) {
        // The policy read takes time: the key is judged again by the clock when it answers.
        return loadPolicy(key.tenantId).then((p) => keyAnswer(key, admin, p.hipaaEnabled, clock.now()));
      }
      if (policy.hipaaEnabled) return inactive("tenant_policy");
    }
    return activeOf(key, admin); // judged by `now` above: nothing awaited since
  }

  /** After the policy read: the key judged again by the clock when the read answered. */
  function keyAnswer(key: KeyRecord, admin: boolean, hipaa: boolean, now: Date): Introspection {
    const ended = keyInactiveReason(key, now);
    if (ended !== undefined) return endedAnswer(key, ended);
    return hipaa ? inactive("tenant_policy") : activeOf(key, admin);
  }

  /** A key that does not work now; a suspended one keeps its allowlist, judged first (see introspect). */
  const endedAnswer = (key: KeyRecord, ended: NonNullable<ReturnType<typeof keyInactiveReason>>): Introspection =>
    ended === "suspended" && key.allowedCidrs !== undefined
      ? { ...inactive(ended), allowedCidrs: key.allowedCidrs }
      : inactive(ended);

  // Not ended by the clock nor stored revoked (keyInactiveReason): its stored status is its status.
  const activeOf = (key: KeyRecord, admin: boolean) => activeKey(key, key.status as "active" | "deprecated", admin);

  /**
   * A granted use of a key: last_used_at, and (retire on first use) its predecessor's retirement.
   * A refused answer (tenant mismatch, scope, address) is no use: it retires nothing.
   */
  function used(keyId: string, now: Date): void {
    lastUsed.record(keyId, now);
    if (awaitingUse.size === 0) return;
    const successor = awaitingUse.get(keyId);
    if (successor === undefined) return;
    awaitingUse.delete(keyId);
    deps.onKeyUse?.(successor);
  }

  function activeKey(key: KeyRecord, status: "active" | "deprecated", admin: boolean): Introspection {
    const deprecated = status === "deprecated";
    // Issue 22: only successors carry the flag; the retirement waits for a granted use (used()).
    if (key.retireOnFirstUse) {
      if (awaitingUse.size >= AWAITING_USE_MAX) awaitingUse.clear(); // a later entry refill re-adds
      awaitingUse.set(key.id, key);
    }
    return {
      active: true,
      tokenType: "api_key",
      tenantId: key.tenantId,
      keyId: key.id,
      expiresAt: keyDeadline(key), // the earlier of its expiry and (deprecated) its grace end
      issuedAt: key.createdAt,
      deprecated,
      admin,
      scopes: key.scopes,
      allowedCidrs: key.allowedCidrs,
    };
  }

  function sessionResult(entry: CachedToken, tenantId: string, now: Date): Introspection {
    if (entry.kind !== "session" || entry.record.tenantId !== tenantId) return NOT_FOUND();
    const s = entry.record;
    if (s.revokedAt !== undefined) return inactive("revoked");
    if (s.expiresAt <= now) return inactive("expired");
    return {
      active: true,
      tokenType: "session",
      tenantId: s.tenantId,
      sessionId: s.id,
      expiresAt: s.expiresAt,
      issuedAt: s.createdAt,
      deprecated: false,
      admin: false,
      scopes: s.scopes,
    };
  }

  function introspectOpaque(
    kind: "api_key" | "session",
    token: string,
    tenantId: string,
    now: Date,
  ): Introspection | Promise<Introspection> {
    const hash = hashToken(token);
    const hit = cache.get(hash);
    observe?.cache?.(kind, hit !== undefined);
    // A miss is answered by the clock when the store has answered (the read may take up to the
    // store's timeout: a token that ended meanwhile is not active), as every cache hit is.
    if (kind === "api_key") {
      return hit
        ? keyResult(hit, tenantId, now)
        : loadToken("key", hash).then((e) => keyResult(e, tenantId, clock.now()));
    }
    return hit
      ? sessionResult(hit, tenantId, now)
      : loadToken("session", hash).then((e) => sessionResult(e, tenantId, clock.now()));
  }

  async function verifyJwt(token: string, hash: string): Promise<CachedToken> {
    const result = await jwt.verify(token);
    const now = clock.now(); // after the verification (a JWKS download may have taken seconds)
    if (result.ok) {
      const entry: CachedToken = { kind: "jwt", claims: result.claims };
      const untilExp = result.claims.expiresAt.getTime() - now.getTime();
      cache.set(hash, entry, Math.min(untilExp, cache.options.jwtMaxTtlMs));
      return entry;
    }
    const entry: CachedToken = { kind: "jwt_rejected", reason: result.reason };
    // Rejections are cached briefly, in the bounded negative cache. A verifier that throws (keys
    // unavailable) caches nothing: the call fails as UNAVAILABLE and the next one tries again.
    cache.set(hash, entry);
    return entry;
  }

  function jwtResult(entry: CachedToken, now: Date): Introspection {
    if (entry.kind === "jwt_rejected") return inactive(entry.reason);
    if (entry.kind !== "jwt") return inactive("unverified");
    const c = entry.claims;
    if (c.expiresAt <= now) return inactive("expired");
    return {
      active: true,
      tokenType: "cognito",
      tenantId: c.tenantId,
      expiresAt: c.expiresAt,
      deprecated: false,
      admin: false,
      subject: c.subject,
      groups: c.groups,
      email: c.email,
      username: c.username,
      scopes: c.scopes,
    };
  }

  function introspectJwt(token: string, now: Date): Introspection | Promise<Introspection> {
    const hash = hashToken(token);
    const hit = cache.get(hash);
    observe?.cache?.("cognito", hit !== undefined);
    return hit ? jwtResult(hit, now) : verifyJwt(token, hash).then((e) => jwtResult(e, clock.now()));
  }

  function resolve(token: string, now: Date): Introspection | Promise<Introspection> {
    // Opaque tokens are at most 1 KiB, JWTs at most 8 KiB (looksLikeJwt): anything longer is
    // malformed before any hashing or store read.
    const parsed = token.length <= MAX_TOKEN_LENGTH ? parseToken(token) : null;
    if (parsed) return introspectOpaque(parsed.kind, token, parsed.tenantId, now);
    if (looksLikeJwt(token)) return introspectJwt(token, now);
    return inactive("malformed");
  }

  /** The memo of a slot, when still valid; the caller checked the slot's own deadline. */
  function validMemo(slot: CacheSlot<CachedToken>, nowMs: number): CachedAnswer | undefined {
    const a = slot.answer as CachedAnswer | undefined;
    return a !== undefined && a.epoch === cache.epoch && nowMs < a.clockUntil && performance.now() < a.monotonicUntil
      ? a
      : undefined;
  }

  /**
   * The answer for a cached entry, with how long it holds: an API key's until its grace ends
   * (deprecated) and while its tenant's policy entry lives; a session's or JWT's until it
   * expires; an inactive one until the entry goes. undefined: something is not cached.
   */
  function answerFor(
    kind: "api_key" | "session" | "cognito",
    entry: CachedToken,
    tenantId: string,
    now: Date,
  ): CachedAnswer | undefined {
    let clockUntil = FOREVER;
    let monotonicUntil = FOREVER;
    let result: Introspection;
    if (kind === "cognito") {
      result = jwtResult(entry, now);
      if (result.active && result.expiresAt) clockUntil = result.expiresAt.getTime();
    } else if (kind === "session") {
      result = sessionResult(entry, tenantId, now);
      if (result.active && result.expiresAt) clockUntil = result.expiresAt.getTime();
    } else {
      if (entry.kind === "key" && entry.record.tenantId === tenantId && entry.record.tenantId !== ADMIN_TENANT_ID) {
        const policy = cache.lookupPolicy(entry.record.tenantId);
        if (policy === undefined) return undefined; // keyResult would read the store
        monotonicUntil = policy.until;
      }
      const r = keyResult(entry, tenantId, now);
      if (r instanceof Promise) return undefined;
      result = r;
      // A key's answer holds until its grace ends or it expires, whichever is first (then it is
      // inactive for good): the cached bytes stop at that instant too.
      const deadline = entry.kind === "key" ? keyDeadline(entry.record) : undefined;
      if (deadline !== undefined && deadline > now) clockUntil = deadline.getTime();
    }
    return { result, clockUntil, monotonicUntil, epoch: cache.epoch, encoded: undefined };
  }

  function cachedAnswer(token: string, now: Date): CachedAnswer | undefined {
    const parsed = token.length <= MAX_TOKEN_LENGTH ? parseToken(token) : null;
    let kind: "api_key" | "session" | "cognito";
    if (parsed) kind = parsed.kind;
    else if (looksLikeJwt(token)) kind = "cognito";
    else return MALFORMED_ANSWER;
    const slot = cache.lookup(hashToken(token));
    if (slot === undefined) return undefined; // a miss: introspect() reads (and counts it)
    const nowMs = now.getTime();
    let answer = validMemo(slot, nowMs);
    if (answer === undefined) {
      answer = answerFor(kind, slot.value, parsed ? parsed.tenantId : "", now);
      if (answer === undefined) return undefined;
      slot.answer = answer;
    }
    observe?.cache?.(kind, true); // counted here only when answered here (else introspect() counts)
    return answer;
  }

  return {
    introspectCached(token, expectedTenantId, checks) {
      if (token === "") return undefined; // introspect() throws invalid_argument
      const now = clock.now();
      const answer = cachedAnswer(token, now);
      if (answer === undefined) return undefined;
      const result = answer.result;
      // The allowlist first (access-checks.ts), a suspended key's too: from outside, nothing is said.
      if (addressRefused(result, checks)) return REFUSED_ANSWERS.address_not_allowed;
      if (!result.active) return answer;
      if (expectedTenantId && result.tenantId !== expectedTenantId) return MISMATCH_ANSWER;
      if (scopeRefused(result, checks)) return REFUSED_ANSWERS.insufficient_scope;
      if (result.keyId !== undefined) used(result.keyId, now);
      return answer;
    },

    async introspect(token, expectedTenantId, checks) {
      if (token === "") throw new DomainError("invalid_argument", "token: is required");
      let now = clock.now();
      const pending = resolve(token, now);
      const result = pending instanceof Promise ? await pending : pending;
      if (pending instanceof Promise) now = clock.now();
      // The allowlist first (access-checks.ts): from outside it, not even a tenant mismatch is said,
      // nor a suspension (a resumable key).
      if (addressRefused(result, checks)) return inactive("address_not_allowed");
      if (!result.active) return result;
      if (expectedTenantId && result.tenantId !== expectedTenantId) return inactive("tenant_mismatch");
      if (scopeRefused(result, checks)) return inactive("insufficient_scope");
      // Only a use that was granted counts as a use (a tenant mismatch is not one).
      if (result.keyId !== undefined) used(result.keyId, now);
      return result;
    },
  };
}
