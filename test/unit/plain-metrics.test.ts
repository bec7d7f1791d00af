import { Counter, Histogram, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { PlainHistogram, plainCounterChildren } from "../../src/observability/plain-metrics.js";

/**
 * Issue 21: the per-call metrics are plain numbers read at scrape time. The exposition must be
 * exactly what prom-client's own Counter and Histogram give for the same observations (text and
 * JSON), so /metrics keeps its names, labels, order and values.
 */
const BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5];
const observations: [string, string, number][] = [
  ["Introspect", "OK", 0.00003],
  ["Introspect", "OK", 0.0001],
  ["Introspect", "OK", 0.00049],
  ["CreateKey", "OK", 0.002],
  ["Introspect", "INVALID_ARGUMENT", 0.07],
  ["CreateKey", "PERMISSION_DENIED", 7],
  ["Introspect", "OK", 1],
];

describe("plain metrics", () => {
  it("a PlainHistogram's /metrics text and JSON equal prom-client's Histogram for the same observations", async () => {
    const a = new Registry();
    const b = new Registry();
    const cfg = {
      name: "x_rpc_duration_seconds",
      help: "h",
      labelNames: ["method", "code"] as const,
      buckets: BUCKETS,
    };
    const reference = new Histogram({ ...cfg, registers: [a] });
    const plain = new PlainHistogram({ ...cfg, registers: [b] });
    for (const [m, c, v] of observations) {
      reference.labels(m, c).observe(v);
      plain.labels(m, c).observe(v);
    }
    expect(await b.metrics()).toBe(await a.metrics());
    expect(await b.getMetricsAsJSON()).toEqual(await a.getMetricsAsJSON());
    expect(await b.metrics()).toContain('x_rpc_duration_seconds_bucket{le="0.0001",method="Introspect",code="OK"} 2');
  });

  it("plain counter children give the counter's own series (nothing for a label set never counted)", async () => {
    const a = new Registry();
    const b = new Registry();
    const cfg = { name: "x_lookups_total", help: "h", labelNames: ["token_type", "result"] as const };
    const reference = new Counter({ ...cfg, registers: [a] });
    const counter = new Counter({ ...cfg, registers: [b] });
    const child = plainCounterChildren(counter);
    const hit = child("api_key", "hit");
    const miss = child("api_key", "miss");
    child("session", "hit"); // resolved, never counted: no series, as with prom-client's labels()
    for (let i = 0; i < 5; i++) {
      hit.inc();
      reference.labels("api_key", "hit").inc();
    }
    miss.inc();
    reference.labels("api_key", "miss").inc();
    expect(await b.metrics()).toBe(await a.metrics());
    // A second scrape does not double count.
    expect(await b.metrics()).toBe(await a.metrics());
    expect(await b.metrics()).toContain('x_lookups_total{token_type="api_key",result="hit"} 5');
  });
});
