/**
 * Case `connections`: the API-key Introspect over 1, 16 and 256 connections, 64 calls in flight in
 * all (spread round-robin over the connections), each paired with the floor over the same number
 * of connections. The floor's own growth (the platform's) is thus visible apart from ours. Target
 * (issue 21): 256 connections within 1.15x of 1 connection's server CPU per call.
 */
import { FLOOR_PATH, INTROSPECT_PATH } from "../lib/constants.js";
import { registerCase } from "../lib/cases.js";
import { measurePaired, openChannel } from "../lib/harness.js";
import { r3, roundSummary } from "../lib/report.js";

const COUNTS = (process.env.BENCH_CONNECTIONS ?? "1,16,256").split(",").map(Number);
const opened = new Set<number>();

registerCase({
  name: "connections",
  describe: "api_key Introspect over 1, 16 and 256 connections (64 in flight in all), paired with the floor",
  async run(ctx) {
    const byCount: Record<
      string,
      ReturnType<typeof roundSummary> & { calls_per_s: number | null; errors: number; first_error: string | null }
    > = {};
    const rows: (string | number | null)[][] = [];
    for (const n of COUNTS) {
      const service = `service_c${n}`;
      const floor = `floor_c${n}`;
      // Opened once (the pinned pass of BENCH_PIN=both reuses them).
      if (!opened.has(n)) {
        await openChannel(ctx.loadgen, service, ctx.service.address, n);
        await openChannel(ctx.loadgen, floor, ctx.floor.address, n);
        opened.add(n);
      }
      const p = await measurePaired({
        label: `connections_${n}${ctx.pinned ? "_pinned" : ""}`,
        loadgen: ctx.loadgen,
        subject: {
          channel: service,
          pid: ctx.service.child.pid!,
          path: INTROSPECT_PATH,
          requestsHex: ctx.requests.apiKeys,
        },
        reference: { channel: floor, pid: ctx.floor.child.pid!, path: FLOOR_PATH, requestsHex: ctx.requests.apiKeys },
        rounds: ctx.knobs.rounds,
        subjectMs: ctx.knobs.caseMs,
        referenceMs: ctx.knobs.floorMs,
        warmupMs: ctx.knobs.warmupMs,
        concurrency: ctx.knobs.concurrency,
      });
      const rs = roundSummary(p.rounds);
      byCount[String(n)] = {
        ...rs,
        calls_per_s: r3(p.subject.callsPerSecond),
        errors: p.subject.errors + p.reference.errors,
        first_error: p.subject.firstError ?? p.reference.firstError ?? null,
      };
      rows.push([
        n,
        Math.round(p.subject.callsPerSecond),
        rs.server_cpu_ms_per_call_median,
        rs.reference_cpu_ms_per_call_median,
        rs.cpu_ratio_median,
        rs.cpu_ratio_range?.join("-") ?? null,
        p.subject.errors + p.reference.errors,
        p.subject.firstError ?? p.reference.firstError ?? null,
      ]);
    }
    const first = byCount[String(COUNTS[0])];
    const last = byCount[String(COUNTS[COUNTS.length - 1])];
    const growth =
      first && last ? (last.server_cpu_ms_per_call_median ?? NaN) / (first.server_cpu_ms_per_call_median ?? NaN) : NaN;
    const floorGrowth =
      first && last
        ? (last.reference_cpu_ms_per_call_median ?? NaN) / (first.reference_cpu_ms_per_call_median ?? NaN)
        : NaN;
    const lo = COUNTS[0];
    const hi = COUNTS[COUNTS.length - 1];
    return {
      result: {
        by_connections: byCount,
        cpu_growth: r3(growth),
        floor_cpu_growth: r3(floorGrowth),
        pinned: ctx.pinned,
      },
      table: {
        header: [
          "connections",
          "calls/s",
          "cpu ms/call",
          "floor cpu ms/call",
          "cpu x floor",
          "range",
          "errors",
          "first error",
        ],
        rows,
      },
      targets: {
        [`connections${ctx.pinned ? "_pinned" : ""}`]: {
          met: growth <= 1.15,
          detail: `cpu per call at ${hi} connections ${r3(growth)}x the cost at ${lo} (<= 1.15x); the floor's own: ${r3(floorGrowth)}x`,
        },
      },
    };
  },
});
