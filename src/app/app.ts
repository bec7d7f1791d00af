import { readFileSync } from "node:fs";
import type { Logger } from "pino";
import { DEFAULT_COGNITO_ADMIN_GROUP, type Config } from "../config.js";
import { createAdminApi } from "../domain/admin-api.js";
import { createAuditTrail } from "../domain/audit-trail.js";
import { createRefusalWindows } from "../domain/refusal-windows.js";
import { createAuditLogSink } from "./audit-log.js";
import { ensureAdminKey } from "../domain/admin-bootstrap.js";
import { DomainError } from "../domain/errors.js";
import { createIntrospector } from "../domain/introspector.js";
import { createKeyService } from "../domain/key-service.js";
import { createLastUsedRecorder } from "../domain/last-used-recorder.js";
import { createPolicyService } from "../domain/policy-service.js";
import { createSessionService } from "../domain/session-service.js";
import { createTokenCache } from "../domain/token-cache.js";
import { systemClock, type Clock } from "../ports/clock.js";
import { disabledJwtVerifier, type JwtVerifier } from "../ports/jwt-verifier.js";
import type { StoreChangeFeed } from "../ports/store-changes.js";
import type { TokenStore } from "../ports/token-store.js";
import { createCallObserver } from "../transport/call-observer.js";
import { childCache, createMetrics, type Metrics, registerAuditMetrics, registerChangeFeedMetrics } from "../transport/metrics.js";
import { startServer, type RunningServer } from "../transport/server.js";
import { AUTHORIZE } from "../transport/forward-auth.js";
import { createIntrospectCallerCheck } from "../transport/introspect-callers.js";
import { createTokenServiceHandlers } from "../transport/token-service-handlers.js";
import { writeAdminKeyFile } from "./admin-key-file.js";
import { instrumentStore } from "./instrumented-store.js";
import { withStoreTimeout } from "./store-timeout.js";
import { openStore } from "./open-store.js";
import { createJwtVerifier } from "./open-jwt-verifier.js";
import { startMaintenance } from "./maintenance.js";

export interface AppOptions {
  config: Readonly<Config>;
  logger: Logger;
  clock?: Clock;
  /** Inject a store (tests, fault injection); default: chosen by config (memory or MongoDB). */
  store?: TokenStore;
  /** With an injected store: its change feed, if any. */
  changes?: StoreChangeFeed;
  jwt?: JwtVerifier;
  /**
   * Per-call metrics (RPC histograms, cache and store counters). Default on; off only to measure
   * what the metrics themselves cost (bench). /metrics is still served.
   */
  metricsEnabled?: boolean;
}

export interface App {
  port: number;
  metrics: Metrics;
  store: TokenStore;
  /** The bootstrap admin key, when this start created one (tests read it; main writes the file). */
  bootstrapAdminKey?: string | undefined;
  /** Resolves once the store answered and (if configured) the JWKS is loaded. */
  ready: Promise<void>;
  close(): Promise<void>;
}

export async function createApp(opts: AppOptions): Promise<App> {
  const { config, logger } = opts;
  const clock = opts.clock ?? systemClock;
  const metrics = createMetrics();
  const opened = opts.store ? { store: opts.store, changes: opts.changes } : await openStore(config, logger);
  const rawStore = opened.store;
  // Every store call is bounded (a stalled store answers UNAVAILABLE, never hangs), then timed.
  const instrumented = opts.metricsEnabled !== false;
  const timedStore = withStoreTimeout(rawStore, config.storeTimeoutMs);
  const store = instrumented ? instrumentStore(timedStore, metrics) : timedStore;
  const jwt = opts.jwt ?? (config.cognito ? await createJwtVerifier(config.cognito, logger) : disabledJwtVerifier);
  if (!config.cognito && !opts.jwt) logger.info("Cognito is off (COGNITO_USER_POOL_ID not set): JWTs introspect inactive");

  const cache = createTokenCache({
    ttlMs: config.cacheTtlMs,
    maxEntries: config.cacheMaxEntries,
    maxNegativeEntries: config.negativeCacheMaxEntries,
  });
  // Changes made by other instances (MongoDB change streams) invalidate this instance's cache at
  // once; without a feed, CACHE_TTL_MS bounds how long another instance's change can go unseen.
  const unwatch = opened.changes?.subscribe((c) =>
    c.kind === "key"
      ? cache.deleteKey(c.keyId)
      : c.kind === "policy"
        ? cache.deletePolicy(c.tenantId)
        : c.kind === "session"
          ? cache.deleteSession(c.sessionId)
          : cache.clear(),
  );
  const feedStatus = opened.changes?.status?.bind(opened.changes);
  if (feedStatus && instrumented) registerChangeFeedMetrics(metrics.registry, feedStatus);
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
  const cacheHits = childCache((type) => metrics.cacheLookups.labels(type, "hit"));
  const cacheMisses = childCache((type) => metrics.cacheLookups.labels(type, "miss"));
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
  const refusalsByFate = childCache((fate) => metrics.auditRefusals.labels(fate));
  const refusals = createRefusalWindows({
    audit,
    clock,
    windowMs: config.auditRefusalWindowMs,
    maxWindows: config.auditRefusalMaxWindows,
    observe: (fate) => refusalsByFate(fate).inc(),
  });
  registerAuditMetrics(metrics.registry, refusals.openWindows, "auditEventsDropped" in opened ? opened.auditEventsDropped : undefined);
  const admin = createAdminApi({
    audit,
    introspector,
    keys,
    sessions: createSessionService({ store, clock, cache }),
    policies: createPolicyService({ store, clock, cache }),
    adminGroup: config.cognito?.adminGroup ?? DEFAULT_COGNITO_ADMIN_GROUP,
  });
  const byResult = childCache((result) => metrics.introspections.labels(result));
  const handlers = createTokenServiceHandlers({
    introspector,
    admin,
    introspectCallerCheck: createIntrospectCallerCheck({
      requireClientCert: config.introspectRequireClientCert,
      callerToken: config.introspectCallerToken,
    }),
    refusals,
    onIntrospection: instrumented
      ? (r) => byResult(r.active ? "active" : r.reason).inc()
      : undefined,
  });
  const observer = createCallObserver(logger, instrumented ? metrics : undefined, new Set(["Introspect", AUTHORIZE]));

  const server = await startServer({
    host: config.host,
    port: config.port,
    handlers,
    observer,
    metrics,
    logger,
    maxBodyBytes: config.maxBodyBytes,
    limits: config.limits,
    readinessDetail: feedStatus && (() => ({ change_feed: feedStatus() })),
    tls: config.tls && {
      cert: readFileSync(config.tls.certFile),
      key: readFileSync(config.tls.keyFile),
      ca: config.tls.clientCaFile ? readFileSync(config.tls.clientCaFile) : undefined,
      optionalClientCert: config.tls.clientCertOptional,
    },
  });
  logger.info({ port: server.port, tls: Boolean(config.tls) }, "listening (gRPC, gRPC-Web, Connect and REST over HTTP/1.1 and HTTP/2)");

  const app: App = { port: server.port, metrics, store: rawStore, ready: Promise.resolve(), close: async () => {} };
  const maintenance = startMaintenance({ store, audit, clock, logger, jwt, server, sweepIntervalMs: config.sweepIntervalMs });
  let stopped = false;
  // First admin key: the key file is written before the key is stored (never a stored admin key
  // nobody holds); the whole step is retried while the store cannot answer.
  const bootstrap = async (): Promise<void> => {
    for (let delay = 200; !stopped; delay = Math.min(delay * 2, 5000)) {
      let saved = false;
      try {
        const issued = await ensureAdminKey({
          store,
          clock,
          keys,
          audit,
          stopped: () => stopped,
          save: async (token) => {
            await writeAdminKeyFile(config.adminKeyFile, token);
            saved = true;
          },
        });
        if (!issued) return;
        app.bootstrapAdminKey = issued.token;
        logger.info({ path: config.adminKeyFile, key_id: issued.key.id }, "no admin key existed: created one and wrote it to the admin key file");
        return;
      } catch (err) {
        if (!saved && !(err instanceof DomainError)) {
          logger.error({ path: config.adminKeyFile, err: (err as Error).message }, "cannot write the admin key file: no admin key was created; set ADMIN_KEY_FILE to a writable path, or create one with the CLI (admin-key create --direct)");
          return;
        }
        logger.warn({ err: (err as Error).message }, "admin key bootstrap failed; retrying");
        await new Promise((r) => setTimeout(r, delay).unref());
      }
    }
  };
  app.ready = maintenance.ready.then(bootstrap);

  let closing: Promise<void> | undefined;
  app.close = () =>
    (closing ??= (async () => {
      stopped = true;
      unwatch?.();
      maintenance.stop();
      await server.close(config.shutdownTimeoutMs);
      await refusals.close(); // the open windows' counts, before the store closes
      await lastUsed.close();
      await rawStore.close();
    })());
  return app;
}

export type { RunningServer };
