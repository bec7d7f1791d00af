/**
 * Case `api_key_webhooks` (issue 24): does the webhook sender change Introspect? The api_key
 * Introspect measured (paired with the floor) in three alternating variants per round:
 *  - `quiet`: no admin traffic;
 *  - `admin_no_endpoint`: a background loop of CreateKey + RevokeKey on one tenant (R events/s),
 *    no webhook endpoint: the admin calls' own cost;
 *  - `admin_with_endpoint`: the same loop, with an endpoint registered for that tenant and a local
 *    receiver answering 204: every event stored in the outbox and delivered (signed) by the sender.
 * The sender's cost on Introspect is the difference between the last two. The service must allow
 * the loopback receiver: run with WEBHOOK_ALLOW_HTTP=true WEBHOOK_ALLOWED_CIDRS=127.0.0.1/32
 * (inherited by the service process), BENCH_WEBHOOK_EVENTS_PER_S (default 20).
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createGrpcTokenClient } from "../../test/support/grpc-client.js";
import { FLOOR_PATH, INTROSPECT_PATH } from "../lib/constants.js";
import { registerCase } from "../lib/cases.js";
import { measurePaired } from "../lib/harness.js";
import { r3, roundSummary } from "../lib/report.js";

const RATE = Number(process.env.BENCH_WEBHOOK_EVENTS_PER_S ?? 20);
const VARIANTS = ["quiet", "admin_no_endpoint", "admin_with_endpoint"] as const;
type Variant = (typeof VARIANTS)[number];

registerCase({
  name: "api_key_webhooks",
  describe: `api_key Introspect while the webhook sender delivers ~${RATE} events/s (vs the same admin traffic without an endpoint, and quiet)`,
  async run(ctx) {
    if (process.env.WEBHOOK_ALLOW_HTTP !== "true" || !process.env.WEBHOOK_ALLOWED_CIDRS?.includes("127.0.0.1"))
      throw new Error("api_key_webhooks needs WEBHOOK_ALLOW_HTTP=true WEBHOOK_ALLOWED_CIDRS=127.0.0.1/32");
    let received = 0;
    const receiver = createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        received++;
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;
    const client = createGrpcTokenClient(ctx.service.address);
    const admin = { bearer: ctx.service.adminKey };
    const tenants: Record<Exclude<Variant, "quiet">, string> = {
      admin_no_endpoint: "bench-wh-none",
      admin_with_endpoint: "bench-wh-hooks",
    };
    const { endpoint } = await client.createWebhookEndpoint({ tenantId: tenants.admin_with_endpoint, url }, admin);

    // The admin loop: one CreateKey and one RevokeKey every 2/RATE s (two events).
    let loop: { stop: boolean; done: Promise<void> } | undefined;
    const startLoop = (tenantId: string) => {
      const state = { stop: false, done: Promise.resolve() };
      state.done = (async () => {
        while (!state.stop) {
          const t0 = Date.now();
          const { key } = await client.createKey({ tenantId, label: "wh" }, admin);
          await client.revokeKey({ tenantId, keyId: key!.id }, admin);
          await new Promise((r) => setTimeout(r, Math.max(0, 2000 / RATE - (Date.now() - t0))));
        }
      })();
      return state;
    };
    const by: Record<Variant, Awaited<ReturnType<typeof measurePaired>>["rounds"]> = {
      quiet: [],
      admin_no_endpoint: [],
      admin_with_endpoint: [],
    };
    const receivedBy: Record<Variant, number> = { quiet: 0, admin_no_endpoint: 0, admin_with_endpoint: 0 };
    const p50By: Record<Variant, number[]> = { quiet: [], admin_no_endpoint: [], admin_with_endpoint: [] };
    const p99By: Record<Variant, number[]> = { quiet: [], admin_no_endpoint: [], admin_with_endpoint: [] };
    for (let round = 0; round < ctx.knobs.rounds; round++) {
      // Rotate the order each round, so no variant always follows another.
      const order = VARIANTS.map((_, i) => VARIANTS[(i + round) % VARIANTS.length]!);
      for (const v of order) {
        if (v !== "quiet") loop = startLoop(tenants[v]);
        const before = received;
        const p = await measurePaired({
          label: `api_key_webhooks_${v}${ctx.pinned ? "_pinned" : ""}`,
          loadgen: ctx.loadgen,
          subject: {
            channel: "service",
            pid: ctx.service.child.pid!,
            path: INTROSPECT_PATH,
            requestsHex: ctx.requests.apiKeys,
          },
          reference: {
            channel: "floor",
            pid: ctx.floor.child.pid!,
            path: FLOOR_PATH,
            requestsHex: ctx.requests.apiKeys,
          },
          rounds: 1,
          subjectMs: ctx.knobs.caseMs,
          referenceMs: ctx.knobs.floorMs,
          warmupMs: ctx.knobs.warmupMs,
          concurrency: ctx.knobs.concurrency,
        });
        if (loop) {
          loop.stop = true;
          await loop.done;
          loop = undefined;
        }
        receivedBy[v] += received - before;
        by[v].push(...p.rounds);
        p50By[v].push(p.subject.p50Ms);
        p99By[v].push(p.subject.p99Ms);
      }
    }
    const backlog = (await client.listWebhookEndpoints({ tenantId: tenants.admin_with_endpoint }, admin)).endpoints[0]
      ?.backlog;
    await client.deleteWebhookEndpoint({ tenantId: tenants.admin_with_endpoint, endpointId: endpoint!.id }, admin);
    client.close();
    receiver.close();
    const mid = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
    const summary = Object.fromEntries(
      VARIANTS.map((v) => [
        v,
        {
          ...roundSummary(by[v]),
          deliveries: receivedBy[v],
          p50_ms_median: r3(mid(p50By[v])),
          p50_ms_range: [r3(Math.min(...p50By[v])), r3(Math.max(...p50By[v]))],
          p99_ms_median: r3(mid(p99By[v])),
        },
      ]),
    );
    const rows = VARIANTS.map((v) => {
      const s = summary[v]!;
      const tput = by[v].map((r) => r.subjectCallsPerSecond).sort((a, b) => a - b);
      return [
        v,
        Math.round(tput[Math.floor(tput.length / 2)] ?? 0),
        s.server_cpu_ms_per_call_median,
        s.server_cpu_ms_per_call_range?.join("-") ?? null,
        s.cpu_ratio_median,
        s.cpu_ratio_range?.join("-") ?? null,
        s.p50_ms_median,
        s.p50_ms_range.join("-"),
        s.p99_ms_median,
        s.deliveries,
      ];
    });
    const withHooks = summary.admin_with_endpoint!.cpu_ratio_median ?? NaN;
    const without = summary.admin_no_endpoint!.cpu_ratio_median ?? NaN;
    return {
      result: {
        events_per_s: RATE,
        by_variant: summary,
        backlog_after: String(backlog ?? "n/a"),
        sender_cpu_ratio_delta: r3(withHooks - without),
      },
      table: {
        header: [
          "variant",
          "calls/s (median)",
          "server ms/call",
          "range",
          "x floor",
          "x floor range",
          "p50 ms",
          "p50 range",
          "p99 ms",
          "deliveries",
        ],
        rows,
      },
    };
  },
});
