import * as http2 from "node:http2";
import { describe, expect, it, vi } from "vitest";
import { waitUntil } from "../support/poll.js";
import { useTestApp } from "../support/test-app.js";

/**
 * /metrics on the API port is open to anyone reaching it. Before, every request rendered the whole
 * Prometheus text (~60 KB) and kept its own copy until the client read it: 50 HTTP/2 connections
 * from one address, 100 /metrics streams each, window 0, never read, took the process's RSS from
 * 144 to 433 MiB and /readyz from another client answered 10 s late. Now concurrent requests share
 * one render (the one after the render in progress, so no answer is older than its request) and
 * its one Buffer.
 */
const t = useTestApp();

/** Opens `n` /metrics streams on a connection that never lets the server send a body byte. */
async function unreadMetrics(n: number): Promise<{ session: http2.ClientHttp2Session; statuses: number[] }> {
  const session = http2.connect(t.baseUrl, { settings: { initialWindowSize: 0 } });
  session.on("error", () => {});
  const statuses: number[] = [];
  for (let i = 0; i < n; i++) {
    const req = session.request({ ":path": "/metrics", ":method": "GET" });
    req.on("response", (h) => statuses.push(Number(h[":status"])));
    req.on("error", () => {});
    req.pause();
  }
  await waitUntil(() => statuses.length === n, 10_000, `${n} /metrics answers`);
  return { session, statuses };
}

describe("/metrics flood", () => {
  it("100 concurrent /metrics streams that never read cost a few renders, not 100", async () => {
    const render = vi.spyOn(t.app.metrics.registry, "metrics");
    try {
      const { session, statuses } = await unreadMetrics(100);
      session.destroy();
      expect(statuses.every((s) => s === 200)).toBe(true);
      // 1 when all 100 arrive before the first render ends; 2 when some arrive during it; more only
      // when the requests straddle several renders (a loaded machine). The old code: one per request.
      expect(render.mock.calls.length).toBeLessThan(10);
    } finally {
      render.mockRestore();
    }
  });

  it("each answer is whole and as fresh as its request: a call made before it is counted", async () => {
    const count = async () => {
      const text = await (await fetch(`${t.baseUrl}/metrics`)).text();
      expect(text).toContain("# TYPE warpflow_rpc_duration_seconds histogram");
      const line = text
        .split("\n")
        .find((l) => l.startsWith("warpflow_rpc_duration_seconds_count{") && l.includes('method="Introspect"'));
      return line ? Number(line.split(" ").pop()) : 0;
    };
    const before = await count();
    await t.grpc.introspect({ token: "wf_acme_nope" });
    expect(await count()).toBe(before + 1);
    // With a render in progress (unread streams asking at the same moment), a later call still shows.
    const { session } = await unreadMetrics(20);
    await t.grpc.introspect({ token: "wf_acme_nope" });
    const [a, b] = await Promise.all([count(), count()]);
    session.destroy();
    expect(a).toBe(before + 2);
    expect(b).toBe(before + 2);
  });
});
