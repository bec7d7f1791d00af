// The client's counters as plain values (always), and as prom-client metrics when the caller passes
// a registry (opt-in: nothing is registered in the default registry behind the caller's back).
import { Counter, Gauge, type Registry } from "prom-client";

export interface ClientCounters {
  hits: number;
  misses: number;
  localRejections: number;
  rideThroughAnswers: number;
  failedClosed: number;
}

export interface ClientGaugeSource {
  connected(): boolean;
  heartbeatAgeSeconds(): number;
  cacheSize(): number;
  resets(): number;
}

/** Registers warpflow_client_* metrics that read the counters and gauges at scrape time. */
export function registerClientMetrics(registry: Registry, c: ClientCounters, g: ClientGaugeSource): void {
  const registers = [registry];
  const counter = (name: string, help: string, read: () => number) =>
    new Counter({
      name,
      help,
      registers,
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  const gauge = (name: string, help: string, read: () => number) =>
    new Gauge({
      name,
      help,
      registers,
      collect() {
        this.set(read());
      },
    });
  counter("warpflow_client_cache_hits_total", "Introspect answered from the client's cache.", () => c.hits);
  counter("warpflow_client_cache_misses_total", "Introspect sent to the server.", () => c.misses);
  counter(
    "warpflow_client_local_rejections_total",
    "Malformed tokens answered without a call.",
    () => c.localRejections,
  );
  counter(
    "warpflow_client_ride_through_total",
    "Answers served from cache while both the stream and the server were unreachable (ride-through).",
    () => c.rideThroughAnswers,
  );
  counter(
    "warpflow_client_failed_closed_total",
    "Introspect calls that failed (no answer, never active).",
    () => c.failedClosed,
  );
  counter(
    "warpflow_client_cache_resets_total",
    "Times the whole cache was dropped (reset, gap, new instance).",
    g.resets,
  );
  gauge("warpflow_client_stream_connected", "1 while the invalidation stream is connected.", () =>
    g.connected() ? 1 : 0,
  );
  gauge(
    "warpflow_client_heartbeat_age_seconds",
    "Age of the last heartbeat (+Inf before the first).",
    g.heartbeatAgeSeconds,
  );
  gauge("warpflow_client_cache_entries", "Answers in the client's cache.", g.cacheSize);
}
