// createTokenClient: Introspect with an in-process cache that the server's invalidation stream keeps
// right. The rules (docs/client.md has the table):
// - a cached answer is used only while the stream is healthy: a heartbeat within stalenessMs on the
//   caller's clock AND that heartbeat said complete; otherwise the server is asked;
// - an answer is never used active past its expires_at; one read before an invalidation that
//   arrived meanwhile is not cached (epoch); one read while the stream is unhealthy is kept at most
//   cacheTtlMs (the server's own CACHE_TTL_MS bound), others at most maxAgeMs;
// - malformed tokens are answered locally; concurrent misses on one token make one call;
// - no answer possible: TokenClientError (fail closed), except the opt-in ride-through.
import { timestampMs, type Timestamp } from "@bufbuild/protobuf/wkt";
import type { Registry } from "prom-client";
import { MAX_JWT_LENGTH } from "../domain/token-format.js";
import type { Clock } from "../ports/clock.js";
import { InactiveReason, type IntrospectResponse } from "../gen/warpflow/auth/v1/token_service_pb.js";
import { createAnswerCache, entryOf, type CachedAnswer } from "./answer-cache.js";
import { authenticateWith, type AuthResult } from "./authenticate.js";
import { cacheKeyOf } from "./cache-key.js";
import { registerClientMetrics, type ClientCounters } from "./client-metrics.js";
import { isUnreachable, TokenClientError } from "./errors.js";
import { createTokenChannel, type TlsOptions, type TokenChannel } from "./grpc-channel.js";
import { checkToken, frozenAnswer, MALFORMED, TENANT_MISMATCH } from "./local-check.js";
import { validChecks, withRequiredScopes } from "./request-checks.js";
import type { IntrospectOptions } from "./authenticate.js";
import { LRUCache } from "lru-cache";
import { startStreamFollower } from "./stream-follower.js";

export interface TokenClientOptions {
  /** host:port of the token service (gRPC). */
  address: string;
  /** TLS or mTLS; omit for h2c. */
  tls?: TlsOptions;
  /** The server's INTROSPECT_CALLER_TOKEN, when it requires one. */
  callerToken?: string;
  /** Answer from cache only if a heartbeat arrived within this many ms. Default 1000. */
  stalenessMs?: number;
  /** Lifetime of an answer read while the stream was unhealthy (the server's CACHE_TTL_MS). Default 2000. */
  cacheTtlMs?: number;
  /** Lifetime of any cached answer, stream healthy or not. Default 300000 (5 min). */
  maxAgeMs?: number;
  /**
   * For this long after an invalidation names a key, session or tenant (tenant-wide), an active
   * answer for it is returned but not cached: behind a balancer that spreads calls over
   * instances, it may come from an instance that has not yet applied what the followed instance
   * announced (docs/client.md, "Where the client connects"). Default 5000.
   */
  settleMs?: number;
  /** Cached answers (LRU). Default 100000. */
  maxEntries?: number;
  /** Opt-in outage ride-through (ms after the last heartbeat); 0 (default) = off. */
  rideThroughMs?: number;
  /** Deadline of one Introspect call. Default 2000. */
  deadlineMs?: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** No stream message for this long (real time): reconnect. Default max(3 x stalenessMs, 1500). */
  silentMs?: number;
  /** Injected time (tests); default the system clock. */
  clock?: Clock;
  /** prom-client registry to register warpflow_client_* metrics in (opt-in). */
  registry?: Registry;
  /** pino-style logger for the once-per-outage ride-through line; default none. */
  logger?: { warn(obj: object, msg: string): void };
  /** Tests: a channel instead of the gRPC one. */
  channel?: TokenChannel;
}

export interface TokenClientState extends ClientCounters {
  connected: boolean;
  /** Whether a lookup may be answered from cache right now. */
  healthy: boolean;
  /** ms since the last heartbeat (Infinity before the first). */
  lastHeartbeatAgeMs: number;
  cacheSize: number;
  resets: number;
  reconnects: number;
}

export interface TokenClient {
  /**
   * `requiredScopes` are checked on the cached answer; `clientAddress` (a key's IP allowlist) is
   * never cached: docs/client.md, "Scopes and client addresses".
   */
  introspect(token: string, opts?: IntrospectOptions): Promise<IntrospectResponse>;
  /**
   * Synchronous: what `introspect` would answer without a network call (a cached answer it may use
   * now, or MALFORMED for a token the local check refuses), else undefined: then call `introspect`.
   * Without request checks (required scopes, client address): with them, call `introspect`.
   */
  peek(token: string, opts?: { expectedTenantId?: string }): IntrospectResponse | undefined;
  authenticate(authorization: string | string[] | undefined | null, opts?: IntrospectOptions): Promise<AuthResult>;
  state(): TokenClientState;
  close(): void;
}

const TENANT_MISMATCH_SETTLED = Promise.resolve(TENANT_MISMATCH);

/** The server refuses an expected_tenant_id longer than a tenant id (INVALID_ARGUMENT): so does a hit. */
const expectedTenantAccepted = (e: string | undefined) => e === undefined || e.length <= 63;
const EXPECTED_TENANT_REFUSED = () =>
  new TokenClientError("invalid_argument", "expected_tenant_id: must match ^[a-z0-9][a-z0-9-]{0,62}$");

const ms = (t: Timestamp | undefined) => (t ? timestampMs(t) : Infinity);

export function createTokenClient(options: TokenClientOptions): TokenClient {
  const o = {
    stalenessMs: 1000,
    cacheTtlMs: 2000,
    maxAgeMs: 300_000,
    settleMs: 5000,
    maxEntries: 100_000,
    rideThroughMs: 0,
    deadlineMs: 2000,
    backoffInitialMs: 100,
    backoffMaxMs: 5000,
    ...options,
  };
  const clock = o.clock;
  const now = clock ? () => clock.now().getTime() : Date.now;
  const channel = o.channel ?? createTokenChannel({ ...o, deadlineMs: o.deadlineMs });
  const cache = createAnswerCache(o.maxEntries);
  const counters: ClientCounters = { hits: 0, misses: 0, localRejections: 0, rideThroughAnswers: 0, failedClosed: 0 };
  let riding = false; // inside an outage that the ride-through has answered (one log line per outage)
  const follower = startStreamFollower({
    channel,
    cache,
    now,
    backoffInitialMs: o.backoffInitialMs,
    backoffMaxMs: o.backoffMaxMs,
    silentMs: o.silentMs ?? Math.max(3 * o.stalenessMs, 1500),
    onStateChange: () => {
      if (riding && follower?.state.connected && follower.state.complete) riding = false;
    },
  });
  const s = follower.state;
  // A negative age (the caller's clock stepped back) proves nothing about the stream: not healthy.
  const healthyAt = (t: number) =>
    s.connected &&
    s.complete &&
    s.lastHeartbeatAtMs !== undefined &&
    t >= s.lastHeartbeatAtMs &&
    t - s.lastHeartbeatAtMs <= o.stalenessMs;
  /** In-flight calls by token (and expected tenant), with the cache epoch they were sent at. */
  const inflight = new Map<string, { epoch: number; promise: Promise<IntrospectResponse> }>();
  /** Token hashes of keys with an IP allowlist (their plain answer was ADDRESS_NOT_ALLOWED). */
  const fenced = new LRUCache<string, true>({ max: Math.max(1, o.maxEntries) });

  const mismatches = (a: IntrospectResponse, expected: string | undefined) =>
    expected !== undefined && expected !== "" && a.active && a.tenantId !== expected;
  const forTenant = (a: IntrospectResponse, expected: string | undefined) =>
    mismatches(a, expected) ? TENANT_MISMATCH : a;

  async function fetchAnswer(
    token: string,
    hash: string,
    tenantOfToken: string,
    expected: string,
  ): Promise<IntrospectResponse> {
    const epoch = cache.epoch;
    const t0 = now();
    const healthyBefore = healthyAt(t0);
    let answer: IntrospectResponse;
    try {
      answer = frozenAnswer(await channel.introspect(token, expected));
    } catch (e) {
      const err = e instanceof TokenClientError ? e : new TokenClientError("internal", "introspect failed");
      const t = now();
      // The entry as the cache holds it now, not as it was when the call was sent: an invalidation
      // or reset that arrived meanwhile has replaced or dropped it. Only within its own lifetime
      // and expires_at (freshUntilMs), and counted from the last heartbeat that said complete.
      const hit = o.rideThroughMs > 0 && isUnreachable(err) ? cache.get(hash) : undefined;
      const since = s.lastCompleteHeartbeatAtMs;
      if (
        hit !== undefined &&
        hit.answer.active &&
        !hit.final &&
        !s.connected &&
        since !== undefined &&
        t >= since &&
        t - since <= o.rideThroughMs &&
        t < hit.freshUntilMs
      ) {
        counters.rideThroughAnswers++;
        if (!riding) {
          riding = true;
          o.logger?.warn(
            { event: "token_client_ride_through", rideThroughMs: o.rideThroughMs },
            "token service and invalidation stream unreachable: answering cached active tokens within the ride-through bound",
          );
        }
        return forTenant(hit.answer, expected);
      }
      counters.failedClosed++;
      throw err;
    }
    const mismatch = !answer.active && answer.inactiveReason === InactiveReason.TENANT_MISMATCH;
    // ADDRESS_NOT_ALLOWED: the key has an IP allowlist (for good: a key's never changes). Its
    // answers depend on the address, so none is cached; the token is remembered as fenced instead.
    const fencedAnswer = !answer.active && answer.inactiveReason === InactiveReason.ADDRESS_NOT_ALLOWED;
    if (fencedAnswer) fenced.set(hash, true);
    // Active just after an invalidation named it: maybe a lagging instance's (settleMs).
    const unsettled = answer.active && cache.changedSince(answer, now() - o.settleMs);
    if (cache.epoch === epoch && !mismatch && !fencedAnswer && !unsettled) {
      const tenantId = answer.active ? answer.tenantId : tenantOfToken;
      const lifetime = healthyBefore && healthyAt(now()) && tenantId !== "" ? o.maxAgeMs : o.cacheTtlMs;
      // expires_at is the server's instant: on the caller's clock, that much earlier as the server leads.
      cache.set(hash, entryOf(answer, tenantId, ms(answer.expiresAt) - s.serverLeadMs, t0 + lifetime));
    }
    return answer;
  }

  const rejectLocally = () => {
    counters.localRejections++;
    return MALFORMED;
  };

  /**
   * Issue 22. The cache holds answers to Introspect without checks. Required scopes are checked on
   * that answer. With a client address: an answer other than ADDRESS_NOT_ALLOWED holds for every
   * address (the server judges the allowlist for a key that is live or suspended, before the
   * request's tenant and scope checks and before saying SUSPENDED, and a key's allowlist never
   * changes: an active answer
   * without an address proves the key has none); ADDRESS_NOT_ALLOWED
   * means the key has an allowlist, so the server is asked with the address, uncached.
   * Not an async function: without checks a hit makes one resolved promise and nothing else.
   */
  function introspect(token: string, opts: IntrospectOptions = {}): Promise<IntrospectResponse> {
    let checks: ReturnType<typeof validChecks>;
    try {
      checks = validChecks(opts);
    } catch (e) {
      return Promise.reject(e as Error);
    }
    if (!expectedTenantAccepted(opts.expectedTenantId)) return Promise.reject(EXPECTED_TENANT_REFUSED());
    // A key with an allowlist: every lookup is the server's answer for this very request. The
    // hash is computed once and handed on (the cache lookup needs it too).
    let hash: string | undefined;
    if (fenced.size > 0 && typeof token === "string" && token !== "" && token.length <= MAX_JWT_LENGTH) {
      hash = cacheKeyOf(token);
      if (fenced.has(hash)) return ask(token, opts.expectedTenantId ?? "", checks ?? {});
    }
    if (checks === undefined) return introspectPlain(token, opts, hash);
    return introspectChecked(token, opts, checks, hash);
  }

  async function introspectChecked(
    token: string,
    opts: IntrospectOptions,
    checks: { requiredScopes?: string[]; clientAddress?: string },
    hash: string | undefined,
  ): Promise<IntrospectResponse> {
    const expected = opts.expectedTenantId ?? "";
    let a = await introspectPlain(token, opts, hash);
    if (!a.active && a.inactiveReason === InactiveReason.ADDRESS_NOT_ALLOWED) {
      if (checks.clientAddress === undefined) return a;
      a = await ask(token, expected, { clientAddress: checks.clientAddress });
    }
    return withRequiredScopes(a, checks.requiredScopes) ?? ask(token, expected, checks);
  }

  /** An uncached call (its answer depends on the request's checks). */
  async function ask(
    token: string,
    expected: string,
    checks: { requiredScopes?: string[]; clientAddress?: string },
  ): Promise<IntrospectResponse> {
    counters.misses++;
    try {
      return await channel.introspect(token, expected, checks);
    } catch (e) {
      counters.failedClosed++;
      throw e instanceof TokenClientError ? e : new TokenClientError("internal", "introspect failed");
    }
  }

  /** Whether this cached entry may answer at `t` (the hit rule). */
  const usable = (hit: CachedAnswer | undefined, t: number): hit is CachedAnswer =>
    hit !== undefined && (hit.final || (t < hit.freshUntilMs && healthyAt(t))); // freshUntilMs: see entryOf

  // `peek` is the synchronous form: the await itself costs about a third of an awaited hit (docs/client.md).
  function introspectPlain(
    token: string,
    opts?: { expectedTenantId?: string },
    known?: string,
  ): Promise<IntrospectResponse> {
    if (typeof token !== "string" || token === "")
      return Promise.reject(new TokenClientError("invalid_argument", "token: is required"));
    // Longer than any token the server looks at: malformed, without hashing a large input.
    if (token.length > MAX_JWT_LENGTH) return Promise.resolve(rejectLocally());
    // A hit needs no parsing: only a token that passed the local check below is ever cached.
    const hash = known ?? cacheKeyOf(token); // known: introspect hashed it already (fenced check)
    const hit = cache.get(hash);
    const expected = opts?.expectedTenantId;
    if (usable(hit, now())) {
      counters.hits++;
      // A settled promise kept with the entry: shared, as concurrent misses share one call's.
      return mismatches(hit.answer, expected) ? TENANT_MISMATCH_SETTLED : (hit.settled ??= Promise.resolve(hit.answer));
    }
    return miss(token, hash, expected ?? "");
  }

  function miss(token: string, hash: string, expected: string) {
    const check = checkToken(token);
    if (check === "malformed") return Promise.resolve(rejectLocally());
    counters.misses++;
    const key = expected ? `${hash}\n${expected}` : hash;
    // Joined only at the epoch it was sent at (as the server's own readThrough): a call sent before
    // an invalidation or reset may carry the answer that invalidation took away.
    const epoch = cache.epoch;
    const pending = inflight.get(key);
    if (pending !== undefined && pending.epoch === epoch) return pending.promise;
    const p = fetchAnswer(token, hash, check === "jwt" ? "" : check.tenantId, expected);
    inflight.set(key, { epoch, promise: p });
    const done = () => {
      if (inflight.get(key)?.promise === p) inflight.delete(key);
    };
    p.then(done, done);
    return p;
  }

  function peek(token: string, opts?: { expectedTenantId?: string }): IntrospectResponse | undefined {
    if (typeof token !== "string" || token === "") return undefined; // introspect throws invalid_argument
    if (!expectedTenantAccepted(opts?.expectedTenantId)) return undefined; // likewise
    if (token.length > MAX_JWT_LENGTH) return rejectLocally();
    const hit = cache.get(cacheKeyOf(token));
    if (usable(hit, now())) {
      counters.hits++;
      return mismatches(hit.answer, opts?.expectedTenantId) ? TENANT_MISMATCH : hit.answer;
    }
    return checkToken(token) === "malformed" ? rejectLocally() : undefined;
  }

  if (o.registry) {
    registerClientMetrics(o.registry, counters, {
      connected: () => s.connected,
      heartbeatAgeSeconds: () => (s.lastHeartbeatAtMs === undefined ? Infinity : (now() - s.lastHeartbeatAtMs) / 1000),
      cacheSize: () => cache.size,
      resets: () => s.resets,
    });
  }

  return {
    introspect,
    peek,
    authenticate: (authorization, opts = {}) =>
      authenticateWith(introspect, authorization, opts.expectedTenantId, {
        requiredScopes: opts.requiredScopes,
        clientAddress: opts.clientAddress,
      }),
    state() {
      const t = now();
      return {
        ...counters,
        connected: s.connected,
        healthy: healthyAt(t),
        lastHeartbeatAgeMs: s.lastHeartbeatAtMs === undefined ? Infinity : t - s.lastHeartbeatAtMs,
        cacheSize: cache.size,
        resets: s.resets,
        reconnects: s.reconnects,
      };
    },
    close() {
      follower.stop();
      channel.close();
    },
  };
}
