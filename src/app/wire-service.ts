// The domain and the TokenService handlers wired on one store: token cache (invalidated by the
// store's change feed), last-used recorder, introspector, key/session/policy services, audit trail
// and refusal windows, and the handlers every transport serves. createApp (app.ts) builds the
// store before and the server, maintenance and admin-key bootstrap after.
import type { Logger } from "pino";
import { DEFAULT_COGNITO_ADMIN_GROUP, type Config } from "../config.js";
import { createAdminApi } from "../domain/admin-api.js";
import { createAuditTrail, type AuditTrail } from "../domain/audit-trail.js";
import { createIntrospector } from "../domain/introspector.js";
import type { Introspection } from "../domain/introspection.js";
import { createFirstUseRetirement } from "../domain/first-use-retirement.js";
import { expireTenantKeys } from "../domain/key-expiry-sweep.js";
import { createKeyService, type KeyService } from "../domain/key-service.js";
import { createExposureService, type ExposureService } from "../domain/exposure-service.js";
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
import type { StoreChange, StoreChangeFeed } from "../ports/store-changes.js";
import { createInvalidationHub, type Invalidation, type InvalidationHub } from "../domain/invalidation-hub.js";
import { createWatchHandlers } from "../service/watch-invalidations.js";
import type { StreamHandlers } from "../transport/protocol/stream-handlers.js";
import type { TokenStore } from "../ports/token-store.js";
import { createIntrospectCallerCheck } from "../service/introspect-callers.js";
import { createTokenServiceHandlers } from "../service/token-service-handlers.js";
import { createOAuth2Introspection } from "../service/oauth2-introspection.js";
import type { OAuth2Introspection } from "../transport/protocol/oauth2-introspection.js";
import { createAuthorizationHandlers } from "../service/ext-authz-handlers.js";
import type { Authorization } from "../gen/envoy/service/auth/v3/external_auth_pb.js";
import { createWatchCallerCheck } from "../service/watch-policy.js";
import type { CallContext, UnaryHandlers } from "../transport/protocol/unary-handlers.js";
import { peerAddress } from "../service/grant-fields.js";
import { createAuditLogSink } from "./audit-log.js";
import type { WebhookStore } from "../ports/webhook-store.js";
import { createEnqueue, type EnqueueEvent } from "../domain/webhook-outbox.js";
import { withWebhookEvents } from "../domain/webhook-audit-trail.js";
import { createWebhookService } from "../domain/webhook-service.js";
import { directUnitOfWork, type UnitOfWork } from "../ports/unit-of-work.js";

export interface WiredService {
  handlers: UnaryHandlers<typeof TokenService>;
  /** Envoy ext_authz Check (issue 23), on the same introspect handler. */
  authorization: UnaryHandlers<typeof Authorization>;
  /** WatchInvalidations, served from `hub`. */
  streams: StreamHandlers<typeof TokenService>;
  /** POST /oauth2/introspect: the same introspector (cache) and result hook as Introspect. */
  oauth2: OAuth2Introspection;
  /** POST /api/v1/sessions: the admin caller resolved as the handlers do, before the method or the body. */
  restCaller: (ctx: CallContext) => Promise<void>;
  hub: InvalidationHub;
  keys: KeyService;
  audit: AuditTrail;
  refusals: RefusalWindows;
  lastUsed: LastUsedRecorder;
  /** Stops following the change feed. */
  unwatch?: (() => void) | undefined;
  /** What a verified secret-scanning alert does (issue 24). */
  exposures: ExposureService;
  /** Stores a webhook event for every endpoint that wants it (the scheduled events use it). */
  enqueueWebhook: EnqueueEvent;
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
  /** Webhook endpoints and outbox (issue 24). */
  webhooks: WebhookStore;
  /** A webhook event was stored (the sender looks at once). */
  onWebhookStored?: () => void;
  /** An event's outbox write failed (counted and logged; the change stands). */
  onWebhookStoreFailed?: () => void;
  /** Endpoints at WEBHOOK_MAX_PENDING_PER_ENDPOINT: their message was not stored (they get disabled). */
  onWebhookEndpointsFull?: (endpointIds: string[]) => void;
  /** The store's unit of work (MongoDB: transactions on replica sets); default: none (direct). */
  unit?: UnitOfWork | undefined;
}): WiredService {
  const { config, logger, store, clock, jwt, metrics, instrumented } = deps;
  const unit = deps.unit ?? directUnitOfWork;
  const cache = createTokenCache({
    ttlMs: config.cacheTtlMs,
    maxEntries: config.cacheMaxEntries,
    maxNegativeEntries: config.negativeCacheMaxEntries,
  });
  // The services that change things: in a unit's transaction a change is visible only once
  // committed, and an entry dropped before the commit could be read again from the old state
  // meanwhile, so every drop is done again after it. (Introspect reads the plain cache.)
  const changeCache = invalidatedAgainAfterCommit(cache, unit);
  // Changes made by other instances (MongoDB change streams) invalidate this instance's cache at
  // once; without a feed, CACHE_TTL_MS bounds how long another instance's change can go unseen.
  // The same changes go to WatchInvalidations' watchers. The hub is complete (it sees every change
  // in the deployment) without a feed (the embedded store: the only instance) or while the feed is live.
  const feed = deps.changes;
  const hub = createInvalidationHub({
    clock,
    heartbeatMs: config.watchHeartbeatMs,
    replayBuffer: config.watchReplayBuffer,
    complete: () => (feed?.status ? feed.status().state === "live" : true),
  });
  // Once, after the commit (a re-run attempt or a rolled-back unit tells watchers nothing).
  const publish = (inv: Invalidation) => unit.afterCommit(() => hub.publish(inv));
  const unwatch = feed?.subscribe((c) => {
    invalidateCache(cache, c);
    const inv = invalidationOf(c);
    if (inv) hub.publish(inv);
    else hub.feedRestarted();
  });
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
    // issue 22; in the background, so never inside the unit of work of the admin call that used the key
    onKeyUse: (key) => unit.outside(() => retireOnFirstUse(key)),
    observe: instrumented
      ? {
          cache: cacheLookup,
          storeRead: () => metrics.storeReads.inc(),
        }
      : undefined,
  });
  // Completed "ok" events of the mapped actions also go to the webhook outbox (webhook-audit-trail.ts).
  const enqueueWebhook = createEnqueue(
    deps.webhooks,
    () => clock.now(),
    () => unit.afterCommit(() => deps.onWebhookStored?.()),
    {
      maxPendingPerEndpoint: config.webhooks.maxPendingPerEndpoint,
      onFull: (ids) => unit.afterCommit(() => deps.onWebhookEndpointsFull?.(ids)),
    },
  );
  const audit = withWebhookEvents(
    createAuditTrail({ store, clock, sink: createAuditLogSink(logger), unit }),
    enqueueWebhook,
    (err, event) => {
      deps.onWebhookStoreFailed?.();
      logger.warn(
        { err: (err as Error).message, action: event.action, audit_event_id: event.id },
        "webhook event not stored in the outbox: it will not be delivered",
      );
    },
    () => clock.now(),
  );
  const sessions = createSessionService({ store, clock, cache: changeCache, publish, unit });
  const keys = createKeyService({
    store,
    clock,
    cache: changeCache,
    lastUsed,
    publish,
    unit,
    sessions, // RevokeKey of an admin key revokes the sessions it created
    expireTenantKeys: (tenantId) => expireTenantKeys({ store, audit, clock, publish }, tenantId), // issue 22
  });
  const retireOnFirstUse = createFirstUseRetirement({
    store,
    clock,
    cache: changeCache,
    audit: () => audit,
    publish,
    onError: (err) => logger.warn({ err: (err as Error).message }, "retire on first use failed; will retry"),
  });
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
    adminKeys: store,
    clock,
    keys,
    sessions,
    policies: createPolicyService({ store, clock, cache: changeCache, publish }),
    adminGroup: config.cognito?.adminGroup ?? DEFAULT_COGNITO_ADMIN_GROUP,
  });
  const introspections = plainCounterChildren(metrics.introspections);
  const byResult = childCache((result) => introspections(result));
  const introspectCallerCheck = createIntrospectCallerCheck({
    requireClientCert: config.introspectRequireClientCert,
    callerToken: config.introspectCallerToken,
  });
  const onIntrospection = instrumented
    ? (r: Introspection) => byResult(r.active ? "active" : r.reason).inc()
    : undefined;
  const handlers = createTokenServiceHandlers({
    introspector,
    admin,
    introspectCallerCheck,
    refusals,
    onIntrospection,
    webhooks: {
      service: createWebhookService({
        store: deps.webhooks,
        clock,
        maxEndpointsPerTenant: config.webhooks.maxEndpointsPerTenant,
        secretOverlapMs: config.webhooks.secretOverlapMs,
      }),
      allowHttp: config.webhooks.allowHttp,
    },
  });
  const oauth2 = createOAuth2Introspection({
    introspector,
    onIntrospection,
    requireClientCert: config.introspectRequireClientCert,
    callerToken: config.introspectCallerToken,
    clients: config.oauth2Clients,
    issuer: config.oauth2Issuer,
  });
  const callerCheck = createWatchCallerCheck({
    introspectCallerCheck,
    allowOpen: config.watchAllowOpen,
    warnOpen: (msg) => logger.warn({ event: "watch_open" }, msg),
  });
  const streams = createWatchHandlers({ hub, callerCheck });
  const exposures = createExposureService({
    store,
    clock,
    cache: changeCache,
    audit,
    sessions,
    publish,
    observe: (c) =>
      logger.info(
        { revoked: c.revoked, looked_up: c.lookedUp, malformed: c.malformed, unreadable: c.unreadable },
        "secret-scanning alert",
      ),
  });
  const authorization = createAuthorizationHandlers({
    tokenService: handlers,
    callerCheck: introspectCallerCheck,
    requireTenantBinding: config.authzRequireTenantBinding,
  });
  return {
    handlers,
    authorization,
    streams,
    oauth2,
    restCaller: async (ctx) => {
      ctx.actor = (await admin.authenticate(ctx.bearer, peerAddress(ctx.peer))).actor; // an admin's 405/415 names its actor
    },
    hub,
    keys,
    audit,
    refusals,
    lastUsed,
    unwatch,
    exposures,
    enqueueWebhook,
  };
}

/** This instance's cache, on a change made anywhere. */
function invalidateCache(cache: ReturnType<typeof createTokenCache>, c: StoreChange): void {
  switch (c.kind) {
    case "key":
      return cache.deleteKey(c.keyId);
    case "policy":
      return cache.deletePolicy(c.tenantId);
    case "session":
      return cache.deleteSession(c.sessionId);
    case "key_created":
    case "session_created":
      // A token asked about before it existed is cached NOT_FOUND here; callers told of the
      // creation ask again and must not get that answer back: the feed names the new token's hash
      // (a document without one can never be found by hash, so nothing of it is cached).
      if (c.tokenHash) cache.delete(c.tokenHash);
      return;
    case "reset":
      return cache.clear();
  }
}

/** What watchers are told of a change seen on the feed; undefined for a reset (the feed restarted). */
function invalidationOf(c: StoreChange): Invalidation | undefined {
  switch (c.kind) {
    case "key":
      return {
        kind:
          c.status === "revoked"
            ? "key_revoked"
            : c.status === "deprecated"
              ? "key_rotated"
              : c.suspended !== undefined // issue 22
                ? c.suspended
                  ? "key_suspended"
                  : "key_resumed"
                : "key_changed",
        keyId: c.keyId,
      };
    case "key_created":
      return { kind: "key_created", keyId: c.keyId, tenantId: c.tenantId };
    case "session":
      return { kind: "session_revoked", sessionId: c.sessionId };
    case "session_created":
      return { kind: "session_created", sessionId: c.sessionId, tenantId: c.tenantId };
    case "policy":
      return { kind: "tenant_policy_changed", tenantId: c.tenantId, hipaaEnabled: c.hipaaEnabled };
    case "reset":
      return undefined;
  }
}

/** The cache, whose drops are also done again once the caller's unit of work has committed. */
function invalidatedAgainAfterCommit(
  cache: ReturnType<typeof createTokenCache>,
  unit: UnitOfWork,
): ReturnType<typeof createTokenCache> {
  const again = <A extends unknown[]>(drop: (...args: A) => void) =>
    function (...args: A): void {
      drop(...args);
      if (unit.inTransaction()) unit.afterCommit(() => drop(...args));
    };
  return Object.assign(Object.create(cache) as ReturnType<typeof createTokenCache>, {
    delete: again(cache.delete.bind(cache)),
    deleteKey: again(cache.deleteKey.bind(cache)),
    deleteSession: again(cache.deleteSession.bind(cache)),
    deleteTenantSessions: again(cache.deleteTenantSessions.bind(cache)),
    deleteSessionsCreatedBy: again(cache.deleteSessionsCreatedBy.bind(cache)),
    deletePolicy: again(cache.deletePolicy.bind(cache)),
    clear: again(cache.clear.bind(cache)),
  });
}
