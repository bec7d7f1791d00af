// Prometheus metrics (prom-client), served at /metrics on the HTTP port. Label values are fixed
// sets (method, code, token type, reason): never a tenant, key or token.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { ChangeFeedStatus } from "../ports/store-changes.js";
import { PlainHistogram } from "./plain-metrics.js";

export interface Metrics {
  registry: Registry;
  /** Observed on every call: plain numbers per series, read at scrape time (plain-metrics.ts). */
  rpcDuration: PlainHistogram<"method" | "code">;
  cacheLookups: Counter<"token_type" | "result">;
  storeReads: Counter;
  storeDuration: Histogram<"operation" | "outcome">;
  lastUsedFlushes: Counter<"outcome">;
  lastUsedKeysFlushed: Counter;
  introspections: Counter<"result">;
  connectionsRefused: Counter<"reason">;
  requestsTimedOut: Counter<"protocol">;
  auditRefusals: Counter<"fate" | "caller">;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    connectionsRefused: new Counter({
      name: "warpflow_connections_refused_total",
      help: "Connections closed on accept: per_address (MAX_CONNECTIONS_PER_ADDRESS) or total (MAX_CONNECTIONS); ops_per_address, ops_total: the ops port's own bounds (OPS_PORT)",
      labelNames: ["reason"] as const,
      registers: [registry],
    }),
    requestsTimedOut: new Counter({
      name: "warpflow_requests_timed_out_total",
      help: "Requests closed because they were not complete within HTTP_REQUEST_TIMEOUT_MS (http2: stream reset)",
      labelNames: ["protocol"] as const,
      registers: [registry],
    }),
    auditRefusals: new Counter({
      name: "warpflow_audit_refusals_total",
      help: "Admin calls refused before any change, by caller (unauthenticated: no valid credential; authenticated: a real credential without permission): recorded (its own event), counted (in its window's one event) or overflow (AUDIT_REFUSAL_MAX_WINDOWS reached: counted per action)",
      labelNames: ["fate", "caller"] as const,
      registers: [registry],
    }),
    rpcDuration: new PlainHistogram({
      name: "warpflow_rpc_duration_seconds",
      help: "RPC latency by method and status code (the _count series counts calls)",
      labelNames: ["method", "code"] as const,
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5],
      registers: [registry],
    }),
    cacheLookups: new Counter({
      name: "warpflow_token_cache_lookups_total",
      help: "Introspection cache lookups by token type and result (hit or miss)",
      labelNames: ["token_type", "result"] as const,
      registers: [registry],
    }),
    storeReads: new Counter({
      name: "warpflow_introspect_store_reads_total",
      help: "Store reads made by Introspect (cache misses)",
      registers: [registry],
    }),
    storeDuration: new Histogram({
      name: "warpflow_store_call_duration_seconds",
      help: "Store call latency by operation and outcome",
      labelNames: ["operation", "outcome"] as const,
      buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2, 5],
      registers: [registry],
    }),
    lastUsedFlushes: new Counter({
      name: "warpflow_last_used_flushes_total",
      help: "last_used_at flushes by outcome",
      labelNames: ["outcome"] as const,
      registers: [registry],
    }),
    lastUsedKeysFlushed: new Counter({
      name: "warpflow_last_used_keys_flushed_total",
      help: "Keys whose last_used_at was written",
      registers: [registry],
    }),
    introspections: new Counter({
      name: "warpflow_introspections_total",
      help: "Introspect results: active, or the inactive reason",
      labelNames: ["result"] as const,
      registers: [registry],
    }),
  };
}

/**
 * A label child per key, resolved once: prom-client's labels() hashes its arguments on every
 * call, which the hot path should not pay. Keys are fixed small sets (token type, reason).
 */
export function childCache<T>(make: (key: string) => T): (key: string) => T {
  const children = new Map<string, T>();
  return (key) => {
    let child = children.get(key);
    if (child === undefined) children.set(key, (child = make(key)));
    return child;
  };
}

/**
 * The cross-instance invalidation feed (MongoDB change stream): whether it is live, and how often
 * it was reopened. While it is not live, other instances' changes reach this cache only through
 * CACHE_TTL_MS. Read at scrape time.
 */
export function registerChangeFeedMetrics(registry: Registry, status: () => ChangeFeedStatus): void {
  new Gauge({
    name: "warpflow_change_feed_up",
    help: "1 while the change feed that invalidates caches across instances is live; 0 while it reopens or is unavailable (the cache TTL is then the bound)",
    registers: [registry],
    collect() {
      this.set(status().state === "live" ? 1 : 0);
    },
  });
  new Counter({
    name: "warpflow_change_feed_reopens_total",
    help: "Change streams that ended (error, invalidate) and were reopened",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(status().reopenings);
    },
  });
}

/** WatchInvalidations: streams open now, and the latest sequence number of this instance. */
export function registerWatchMetrics(
  registry: Registry,
  hub: { readonly watchers: number; readonly sequence: number },
): void {
  new Gauge({
    name: "warpflow_watchers",
    help: "WatchInvalidations streams open on this instance (bounded by WATCH_MAX_WATCHERS)",
    registers: [registry],
    collect() {
      this.set(hub.watchers);
    },
  });
  new Counter({
    name: "warpflow_invalidations_total",
    help: "Numbered WatchInvalidations events of this instance (invalidations and FEED_RESTARTED resets) since start",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(hub.sequence);
    },
  });
}

/** The audit trail's bounds: refusal windows open now, events the embedded store dropped (AUDIT_MAX_EVENTS). */
export function registerAuditMetrics(
  registry: Registry,
  openWindows: () => number,
  eventsDropped: (() => number) | undefined,
): void {
  new Gauge({
    name: "warpflow_audit_refusal_windows_open",
    help: "Windows counting unauthenticated refusals per address, action, code and tenant (at most AUDIT_REFUSAL_MAX_WINDOWS, plus per-action overflow windows)",
    registers: [registry],
    collect() {
      this.set(openWindows());
    },
  });
  if (!eventsDropped) return;
  new Counter({
    name: "warpflow_audit_events_dropped_total",
    help: "Audit events the embedded store dropped, oldest first, to stay within AUDIT_MAX_EVENTS",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(eventsDropped());
    },
  });
}

/** `warpflow_build_info{version,node} 1`: what runs, for dashboards and on-call (join on it). */
export function registerBuildInfo(registry: Registry, info: { version: string; node: string }): void {
  new Gauge({
    name: "warpflow_build_info",
    help: "Always 1; labels: the service version (package.json) and the Node.js version it runs on",
    labelNames: ["version", "node"] as const,
    registers: [registry],
  })
    .labels(info.version, info.node)
    .set(1);
}

/** Lifecycle webhooks (issue 24): deliveries by outcome, and the outbox backlog (no tenant labels). */
export function registerWebhookMetrics(
  registry: Registry,
  backlog: () => number,
): {
  deliveries: Counter<"outcome">;
  outboxWriteFailures: Counter;
} {
  new Gauge({
    name: "warpflow_webhook_outbox_backlog",
    help: "Webhook messages stored and not yet delivered (all endpoints; refreshed by the sender at most every 5 s)",
    registers: [registry],
    collect() {
      this.set(backlog());
    },
  });
  return {
    deliveries: new Counter({
      name: "warpflow_webhook_deliveries_total",
      help: "Webhook delivery attempts by outcome: delivered, failed (will retry), refused (SSRF guard), disabled (the endpoint was disabled)",
      labelNames: ["outcome"] as const,
      registers: [registry],
    }),
    outboxWriteFailures: new Counter({
      name: "warpflow_webhook_outbox_write_failures_total",
      help: "Webhook events that could not be stored in the outbox (store unavailable right after the change): not delivered",
      registers: [registry],
    }),
  };
}
