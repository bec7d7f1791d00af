import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { pollUntil } from "../support/poll.js";
import { metricsText, samples } from "../support/probes.js";
import { useTestApp } from "../support/test-app.js";

/**
 * Issue 21: the hot path's metrics became plain counters read at scrape time. /metrics must keep
 * every series (name and labels), HELP and TYPE of the code before that change: the expected list
 * below was written by this test on the old code (WRITE_METRICS_SERIES=1), and a series or a
 * label that disappears fails here. The counts keep their meaning: N calls add N.
 */
const EXPECTED = join(import.meta.dirname, "metrics-series.expected.txt");
const OURS = /^(# (HELP|TYPE) )?warpflow_/;

/** Each sample's name and labels (no value), and the HELP/TYPE lines, of the service's own metrics. */
function series(text: string): string[] {
  return text
    .split("\n")
    .filter((l) => OURS.test(l))
    .map((l) => (l.startsWith("#") ? l : l.slice(0, l.lastIndexOf(" "))))
    .filter((l) => !l.startsWith("warpflow_build_info")) // another branch's metric, versioned
    .sort();
}

describe("/metrics keeps its series across the hot-path change", () => {
  const t = useTestApp({ env: { LAST_USED_FLUSH_MS: "50" } });

  async function workload() {
    const admin = { bearer: t.adminKey };
    const { token: key } = await t.grpc.createKey({ tenantId: "metrics-a", label: "m" }, admin);
    const { token: session } = await t.grpc.createSession({ tenantId: "metrics-a" }, admin);
    for (const token of [key, key, session, session, "not-a-token", `${key.slice(0, -1)}x`])
      await t.grpc.introspect({ token });
    await t.grpc.introspect({ token: key, expectedTenantId: "metrics-b" });
    await expect(t.grpc.introspect({ token: "" })).rejects.toThrow();
    await expect(t.grpc.listKeys({ tenantId: "metrics-a" }, { bearer: "wf_nope" })).rejects.toThrow();
    await fetch(`${t.baseUrl}/authz`, { headers: { authorization: `Bearer ${key}` } });
    // The last-used flush runs on a timer: wait for its series.
    await pollUntil(async () => samples(await metricsText(t.baseUrl), "warpflow_last_used_flushes_total").length > 0);
    return { key, session };
  }

  it("every series (name, labels), HELP and TYPE line of the old code is still there", async () => {
    await workload();
    const now = series(await metricsText(t.baseUrl));
    if (process.env.WRITE_METRICS_SERIES === "1") writeFileSync(EXPECTED, `${now.join("\n")}\n`);
    const expected = readFileSync(EXPECTED, "utf8").trim().split("\n");
    expect(expected.length).toBeGreaterThan(50);
    expect(expected.filter((s) => !now.includes(s))).toEqual([]);
  });

  it("N cached Introspects add N to the call histogram, the result counter and the cache hits", async () => {
    const { token: key } = await t.grpc.createKey({ tenantId: "metrics-c", label: "m" }, { bearer: t.adminKey });
    await t.grpc.introspect({ token: key }); // cached now
    const read = async () => {
      const text = await metricsText(t.baseUrl);
      const one = (name: string, labels: Record<string, string>) => samples(text, name, labels)[0] ?? 0;
      return {
        calls: one("warpflow_rpc_duration_seconds_count", { method: "Introspect", code: "ok" }),
        inf: one("warpflow_rpc_duration_seconds_bucket", { method: "Introspect", code: "ok", le: "+Inf" }),
        sum: one("warpflow_rpc_duration_seconds_sum", { method: "Introspect", code: "ok" }),
        active: one("warpflow_introspections_total", { result: "active" }),
        hits: one("warpflow_token_cache_lookups_total", { token_type: "api_key", result: "hit" }),
        misses: one("warpflow_token_cache_lookups_total", { token_type: "api_key", result: "miss" }),
      };
    };
    const before = await read();
    const N = 25;
    for (let i = 0; i < N; i++) expect((await t.grpc.introspect({ token: key })).active).toBe(true);
    const after = await read();
    expect(after.calls - before.calls).toBe(N);
    expect(after.inf - before.inf).toBe(N);
    expect(after.sum).toBeGreaterThan(before.sum);
    expect(after.active - before.active).toBe(N);
    expect(after.hits - before.hits).toBe(N);
    expect(after.misses - before.misses).toBe(0);
  });
});
