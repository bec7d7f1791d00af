// The domain and the TokenService handlers wired on one store: token cache (invalidated by the
// store's change feed), last-used recorder, introspector, key/session/policy services, audit trail
// and refusal windows, and the handlers every transport serves. createApp (app.ts) builds the
// store before and the server, maintenance and admin-key bootstrap after.
import type { Logger } from "pino";
import { DEFAULT_COGNITO_ADMIN_GROUP, type Config } from "../config.js";
import { createAdminApi } from "../domain/admin-api.js";
import { createAuditTrail, type AuditTrail } from "../domain/audit-trail.js";
import { createIntrospector } from "../domain/introspector.js";
import { createKeyService, type KeyService } from "../domain/key-service.js";
import { createLastUsedRecorder, type LastUsedRecorder } from "../domain/last-used-recorder.js";
import { createPolicyService } from "../domain/policy-service.js";
import { createRefusalWindows, type RefusalWindows } from "../domain/refusal-windows.js";
import { createSessionService } from "../domain/session-service.js";
import { createTokenCache } from "../domain/token-cache.js";
import type { TokenService } from "../gen/warpflow/auth/v1/token_service_pb.js";
import { childCache, type Metrics } from "../observability/metrics.js";
import { plainCounterChildren } from "../observability/plain-metrics.js";
import type { Clock } from "../ports/clock.js";
import type { JwtVerifier } from "../ports/jwt-verifier.js";
import type { StoreChangeFeed } from "../ports/store-changes.js";
import type { TokenStore } from "../ports/token-store.js";
import { createIntrospectCallerCheck } from "../service/introspect-callers.js";
import { createTokenServiceHandlers } from "../service/token-service-handlers.js";
import type { UnaryHandlers } from "../transport/protocol/unary-handlers.js";
import { createAuditLogSink } from "./audit-log.js";

export interface WiredService {
  handlers: UnaryHandlers<typeof TokenService>;
  keys: KeyService;
  audit: AuditTrail;
  refusals: RefusalWindows;
  lastUsed: LastUsedRecorder;
  /** Stops following the change feed. */
  unwatch?: (() => void) | undefined;
}

export function wireService(deps: {
  config: Config;
  logger: Logger;
  store: TokenStore;
  changes?: StoreChangeFeed | undefined;
  clock: Clock;
  jwt: JwtVerifier;
  metrics: Metrics;
  /** Count cache lookups, store reads, introspection results and refusals in `metrics`. */
  instrumented: boolean;
}): WiredService {
  const { config, logger, store, clock, jwt, metrics, instrumented } = deps;
  const cache = createTokenCache({
    ttlMs: config.cacheTtlMs,
    maxEntries: config.cacheMaxEntries,
    maxNegativeEntries: config.negativeCacheMaxEntries,
  });
  // Changes made by other instances (MongoDB change streams) invalidate this instance's cache at
  // once; without a feed, CACHE_TTL_MS bounds how long another instance's change can go unseen.
  const unwatch = deps.changes?.subscribe((c) =>
    c.kind === "key"
      ? cache.deleteKey(c.keyId)
      : c.kind === "policy"
        ? cache.deletePolicy(c.tenantId)
        : c.kind === "session"
          ? cache.deleteSession(c.sessionId)
          : cache.clear(),
  );
  const lastUsed = createLastUsedRecorder(store, {
    flushIntervalMs: config.lastUsedFlushMs,
    onFlush: ({ keys, ok, error }) => {
      metrics.lastUsedFlushes.labels(ok ? "ok" : "error").inc();
      if (ok) {
        metrics.lastUsedKeysFlushed.inc(keys);
        logger.debug({ keys }, "last_used_at flushed");
      } else logger.warn({ err: error, keys }, "last_used_at flush failed; will retry");
    },
  });
  const cacheLookups = plainCounterChildren(metrics.cacheLookups);
  const cacheHits = childCache((type) => cacheLookups(type, "hit"));
  const cacheMisses = childCache((type) => cacheLookups(type, "miss"));
  const cacheLookup = (type: string, hit: boolean) => (hit ? cacheHits : cacheMisses)(type).inc();
  const introspector = createIntrospector({
    store,
    clock,
    cache,
    lastUsed,
    jwt,
    observe: instrumented
      ? {
          cache: cacheLookup,
          storeRead: () => metrics.storeReads.inc(),
        }
      : undefined,
  });
  const keys = createKeyService({ store, clock, cache, lastUsed });
  const audit = createAuditTrail({ store, clock, sink: createAuditLogSink(logger) });
  const refusalsByFate = childCache((key) => metrics.auditRefusals.labels(...(key.split(" ") as [string, string])));
  const refusals = createRefusalWindows({
    audit,
    clock,
    windowMs: config.auditRefusalWindowMs,
    maxWindows: config.auditRefusalMaxWindows,
    observe: (fate, authenticated) =>
      refusalsByFate(`${fate} ${authenticated ? "authenticated" : "unauthenticated"}`).inc(),
  });
  const admin = createAdminApi({
    audit,
    introspector,
    keys,
    sessions: createSessionService({ store, clock, cache }),
    policies: createPolicyService({ store, clock, cache }),
    adminGroup: config.cognito?.adminGroup ?? DEFAULT_COGNITO_ADMIN_GROUP,
  });
  const introspections = plainCounterChildren(metrics.introspections);
  const byResult = childCache((result) => introspections(result));
  const handlers = createTokenServiceHandlers({
    introspector,
    admin,
    introspectCallerCheck: createIntrospectCallerCheck({
      requireClientCert: config.introspectRequireClientCert,
      callerToken: config.introspectCallerToken,
    }),
    refusals,
    onIntrospection: instrumented ? (r) => byResult(r.active ? "active" : r.reason).inc() : undefined,
  });
  return { handlers, keys, audit, refusals, lastUsed, unwatch };
}
