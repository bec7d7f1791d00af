import { readFileSync } from "node:fs";
import type { Logger } from "pino";
import type { Config } from "../config.js";
import { systemClock, type Clock } from "../ports/clock.js";
import { disabledJwtVerifier, type JwtVerifier } from "../ports/jwt-verifier.js";
import type { StoreChangeFeed } from "../ports/store-changes.js";
import type { TokenStore } from "../ports/token-store.js";
import { createCallObserver } from "../transport/protocol/call-observer.js";
import {
  createMetrics,
  type Metrics,
  registerAuditMetrics,
  registerBuildInfo,
  registerChangeFeedMetrics,
  registerWatchMetrics,
} from "../observability/metrics.js";
import { buildInfo } from "./build-info.js";
import { startServer, type RunningServer } from "../transport/server.js";
import { startOpsServer, type OpsServer } from "../transport/ops-server.js";
import { AUTHORIZE } from "../transport/http/forward-auth.js";
import { OAUTH2_INTROSPECT } from "../transport/http/oauth2-introspect.js";
import { CHECK } from "../transport/server.js";
import { startAdminKeyBootstrap } from "./admin-key-bootstrap.js";
import { instrumentStore } from "./instrumented-store.js";
import { withStoreTimeout } from "./store-timeout.js";
import { openStore } from "./open-store.js";
import { listenError, readSettingFile } from "./startup-errors.js";
import { createJwtVerifier } from "./open-jwt-verifier.js";
import { startMaintenance } from "./maintenance.js";
import { wireService } from "./wire-service.js";
import { openAlertKeys } from "./open-alert-keys.js";
import { createSecretScanningReceiver } from "../service/secret-scanning-alerts.js";
import type { AlertKeySource } from "../ports/alert-keys.js";
import type { WebhookStore } from "../ports/webhook-store.js";
import { createMemoryWebhookStore } from "../adapters/memory/memory-webhook-store.js";
import { startWebhooks } from "./webhooks.js";

export interface AppOptions {
  config: Readonly<Config>;
  logger: Logger;
  clock?: Clock;
  /** Inject a store (tests, fault injection); default: chosen by config (memory or MongoDB). */
  store?: TokenStore;
  /** With an injected store: its change feed, if any. */
  changes?: StoreChangeFeed;
  /** With an injected store: its webhook endpoints and outbox (default: a new embedded one). */
  webhookStore?: WebhookStore;
  jwt?: JwtVerifier;
  /**
   * Per-call metrics (RPC histograms, cache and store counters). Default on; off only to measure
   * what the metrics themselves cost (bench). /metrics is still served.
   */
  metricsEnabled?: boolean;
  /** Inject the secret-scanning key source (tests); default: from config.secretScanning. */
  alertKeys?: AlertKeySource;
  /** Tests only: false serves Introspect and Check on grpc-js (transport/server.ts grpcDirect). */
  grpcDirect?: boolean;
}

export interface App {
  port: number;
  /** The ops port (OPS_PORT), when one is configured. */
  opsPort?: number | undefined;
  metrics: Metrics;
  store: TokenStore;
  /** The bootstrap admin key, when this instance minted one (and wrote it to ADMIN_KEY_FILE); tests read it. */
  bootstrapAdminKey?: string | undefined;
  /** Resolves once the store answered and (if configured) the JWKS is loaded. */
  ready: Promise<void>;
  close(): Promise<void>;
}

export async function createApp(opts: AppOptions): Promise<App> {
  const { config, logger } = opts;
  const clock = opts.clock ?? systemClock;
  const metrics = createMetrics();
  registerBuildInfo(metrics.registry, buildInfo());
  const opened = opts.store
    ? { store: opts.store, changes: opts.changes, webhooks: opts.webhookStore ?? createMemoryWebhookStore() }
    : await openStore(config, logger);
  const rawStore = opened.store;
  // Every store call is bounded (a stalled store answers UNAVAILABLE, never hangs), then timed.
  const instrumented = opts.metricsEnabled !== false;
  const timedStore = withStoreTimeout(rawStore, config.storeTimeoutMs);
  const store = instrumented ? instrumentStore(timedStore, metrics) : timedStore;
  const jwt = opts.jwt ?? (config.cognito ? await createJwtVerifier(config.cognito, logger) : disabledJwtVerifier);
  if (!config.cognito && !opts.jwt)
    logger.info("Cognito is off (COGNITO_USER_POOL_ID not set): JWTs introspect inactive");

  const changes = opened.changes;
  const feedStatus = changes?.status?.bind(changes);
  if (feedStatus && instrumented) registerChangeFeedMetrics(metrics.registry, feedStatus);
  const webhookKick = { kick: () => {}, failed: () => {}, full: (_ids: string[]) => {} };
  const {
    handlers,
    authorization,
    streams,
    oauth2,
    restCaller,
    hub,
    keys,
    audit,
    refusals,
    lastUsed,
    unwatch,
    exposures,
    enqueueWebhook,
  } = wireService({
    config,
    logger,
    store,
    changes,
    clock,
    jwt,
    metrics,
    instrumented,
    webhooks: opened.webhooks,
    onWebhookStored: () => webhookKick.kick(),
    onWebhookStoreFailed: () => webhookKick.failed(),
    onWebhookEndpointsFull: (ids) => webhookKick.full(ids),
    unit: "unit" in opened ? opened.unit : undefined,
  });
  registerWatchMetrics(metrics.registry, hub);
  registerAuditMetrics(
    metrics.registry,
    refusals.openWindows,
    "auditEventsDropped" in opened ? opened.auditEventsDropped : undefined,
  );
  const observer = createCallObserver(
    logger,
    instrumented ? metrics : undefined,
    new Set(["Introspect", AUTHORIZE, CHECK, OAUTH2_INTROSPECT]),
  );

  const tls = config.tls && {
    cert: readSettingFile("TLS_CERT_FILE", config.tls.certFile, readFileSync),
    key: readSettingFile("TLS_KEY_FILE", config.tls.keyFile, readFileSync),
    ca: config.tls.clientCaFile
      ? readSettingFile("TLS_CLIENT_CA_FILE", config.tls.clientCaFile, readFileSync)
      : undefined,
    optionalClientCert: config.tls.clientCertOptional,
  };
  const storeKind = config.store;
  const readinessDetail = () => ({
    store: storeKind,
    admin_key: adminKey.state(),
    ...(feedStatus && { change_feed: feedStatus() }),
  });
  const server = await startServer({
    host: config.host,
    port: config.port,
    handlers,
    authorization,
    streams: { handlers: streams, maxWatchers: config.watchMaxWatchers },
    observer,
    metrics,
    logger,
    maxBodyBytes: config.maxBodyBytes,
    limits: config.limits,
    readinessDetail,
    tls,
    authz: { requireTenantBinding: config.authzRequireTenantBinding },
    oauth2,
    restCaller,
    grpcDirect: opts.grpcDirect,
    secretScanning: config.secretScanning && {
      receiver: createSecretScanningReceiver({
        keys: opts.alertKeys ?? openAlertKeys(config.secretScanning, clock, logger),
        exposures,
      }),
      maxBodyBytes: config.secretScanning.maxBodyBytes,
    },
  }).catch((err: unknown) => {
    throw listenError(err, config.host, config.port);
  });
  logger.info(
    { port: server.port, tls: Boolean(config.tls), store: storeKind },
    "listening (gRPC, gRPC-Web, Connect and REST over HTTP/1.1 and HTTP/2)",
  );

  // The ops port's /readyz follows the API port's readiness (both set here, by maintenance).
  let serving = false;
  const served = {
    setServing: (value: boolean) => void ((serving = value), server.setServing(value)),
  };
  const app: App = {
    port: server.port,
    metrics,
    store: rawStore,
    ready: Promise.resolve(),
    close: async () => {},
  };
  const maintenance = startMaintenance({
    store,
    audit,
    clock,
    logger,
    jwt,
    server: served,
    sweepIntervalMs: config.sweepIntervalMs,
    publish: (inv) => hub.publish(inv),
    gate: () => adminKey.state() === "ok",
  });
  // First admin key, decided once across instances (the store's bootstrap lease); readiness waits for it.
  const adminKey = startAdminKeyBootstrap({
    store,
    clock,
    keys,
    audit,
    logger,
    adminKeyFile: config.adminKeyFile,
    onChange: () => {
      app.bootstrapAdminKey = adminKey.minted();
      maintenance.recheck();
    },
  });
  app.ready = maintenance.ready;
  // Lifecycle webhooks: the sender and the scheduled events (off the Introspect path).
  const webhooks = startWebhooks({
    config,
    logger,
    clock,
    store,
    webhooks: opened.webhooks,
    audit,
    enqueue: enqueueWebhook,
    registry: metrics.registry,
  });
  webhookKick.kick = webhooks.kick;
  webhookKick.failed = webhooks.outboxWriteFailed;
  webhookKick.full = webhooks.endpointsFull;

  const opsPort: { server?: OpsServer | undefined } = {};
  let closing: Promise<void> | undefined;
  app.close = () =>
    (closing ??= (async () => {
      adminKey.stop();
      jwt.close?.(); // the JWKS refresh timer
      unwatch?.();
      maintenance.stop();
      serving = false; // the ops port's /readyz says not serving while the API port drains
      hub.close(); // open watchers end (OK) instead of holding the drain
      // Stops accepting synchronously (main.ts logs "shutting down" right after close() returns),
      // so nothing may be awaited before it; the webhook sender stops while the calls drain.
      const draining = server.close(config.shutdownTimeoutMs);
      await webhooks.stop();
      await draining;
      opsPort.server?.close();
      await refusals.close(); // the open windows' counts, before the store closes
      await lastUsed.close();
      await rawStore.close();
    })());
  // Started last: its /readyz reads state that exists only from here on.
  const ops =
    config.opsPort === undefined
      ? undefined
      : await startOpsServer({
          host: config.host,
          port: config.opsPort,
          limits: config.limits,
          metrics,
          serving: () => serving,
          readinessDetail,
          onRefused: (reason) => metrics.connectionsRefused.labels(`ops_${reason}`).inc(),
        }).catch(async (err: unknown) => {
          await app.close();
          throw listenError(err, config.host, config.opsPort!, "OPS_PORT");
        });
  if (ops) logger.info({ ops_port: ops.port }, "ops port listening (/healthz, /readyz, /metrics; plain HTTP)");
  opsPort.server = ops;
  app.opsPort = ops?.port;
  return app;
}

export type { RunningServer };
