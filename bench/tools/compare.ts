/**
 * Before/after of `npm run bench` runs taken alternately on one machine in one hour (old code,
 * new code, old, new...): per case, the median over runs of each run's per-round medians, and the
 * range over runs. Kept as bench/results/<name>.json (BENCH_RESULT_NAME, default
 * bench-compare-<UTC time>); `npm run bench:report` renders it into BENCHMARKS.md.
 *
 * Usage: npx tsx bench/tools/compare.ts --before old-1.json old-2.json --after new-1.json new-2.json
 */
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { median, r3, r4 } from "../lib/report.js";
import { writeResult } from "../lib/results.js";

type Row = Record<string, unknown>;
const args = process.argv.slice(2);
const split = args.indexOf("--after");
if (args[0] !== "--before" || split < 2 || split === args.length - 1) {
  console.error("usage: npx tsx bench/tools/compare.ts --before <result.json>... --after <result.json>...");
  process.exit(2);
}
const load = (f: string) => {
  const doc = JSON.parse(readFileSync(f, "utf8")) as {
    tool?: string;
    name?: string;
    git?: { commit?: string };
    result?: Record<string, Row>;
  };
  if (doc.tool !== "bench" || !doc.result) throw new Error(`${f}: not an \`npm run bench\` result file`);
  return { name: doc.name ?? basename(f, ".json"), commit: doc.git?.commit ?? null, run: doc.result };
};
const before = args.slice(1, split).map(load);
const after = args.slice(split + 1).map(load);

const num = (v: unknown) => (typeof v === "number" ? v : NaN);
const spread = (xs: number[], round: (n: number) => number | null) => {
  const s = xs.filter(Number.isFinite);
  return { median: round(median(s)), range: s.length ? [round(Math.min(...s)), round(Math.max(...s))] : null };
};

function side(runs: ReturnType<typeof load>[]) {
  const out: Record<string, unknown> = {};
  const cases = new Set(runs.flatMap((r) => Object.keys(r.run)));
  for (const c of cases) {
    const rows = runs.map((r) => r.run[c]).filter((r): r is Row => r !== undefined);
    if (rows.some((r) => "cpu_ratio_median" in r)) {
      out[c] = {
        server_cpu_ms_per_call: spread(
          rows.map((r) => num(r.server_cpu_ms_per_call_median)),
          r4,
        ),
        floor_cpu_ms_per_call: spread(
          rows.map((r) => num(r.reference_cpu_ms_per_call_median)),
          r4,
        ),
        cpu_ratio: spread(
          rows.map((r) => num(r.cpu_ratio_median)),
          r3,
        ),
        throughput_ratio: spread(
          rows.map((r) => num(r.throughput_ratio_median)),
          r3,
        ),
        calls_per_s: spread(
          rows.map((r) => num(r.calls_per_s)),
          (n) => Math.round(n),
        ),
      };
    } else if (rows.some((r) => "vs_introspect" in r)) {
      // Case `check`: its pairings (against the floor, against Introspect, the floor fed its bytes).
      const pairing = (key: string) => {
        const at = rows.map((r) => (r[key] ?? {}) as Row);
        return {
          server_cpu_ms_per_call: spread(
            at.map((a) => num(a.server_cpu_ms_per_call_median)),
            r4,
          ),
          reference_cpu_ms_per_call: spread(
            at.map((a) => num(a.reference_cpu_ms_per_call_median)),
            r4,
          ),
          cpu_ratio: spread(
            at.map((a) => num(a.cpu_ratio_median)),
            r3,
          ),
        };
      };
      out[c] = {
        vs_introspect: pairing("vs_introspect"),
        vs_floor: pairing("vs_floor"),
        floor_check_bytes_vs_introspect_bytes: pairing("floor_check_bytes_vs_introspect_bytes"),
      };
    } else if (rows.some((r) => "by_connections" in r)) {
      const counts = Object.keys((rows[0]!.by_connections as Record<string, Row>) ?? {});
      out[c] = {
        cpu_growth: spread(
          rows.map((r) => num(r.cpu_growth)),
          r3,
        ),
        floor_cpu_growth: spread(
          rows.map((r) => num(r.floor_cpu_growth)),
          r3,
        ),
        by_connections: Object.fromEntries(
          counts.map((n) => {
            const at = rows.map((r) => (r.by_connections as Record<string, Row>)[n]!);
            return [
              n,
              {
                server_cpu_ms_per_call: spread(
                  at.map((a) => num(a.server_cpu_ms_per_call_median)),
                  r4,
                ),
                floor_cpu_ms_per_call: spread(
                  at.map((a) => num(a.reference_cpu_ms_per_call_median)),
                  r4,
                ),
                cpu_ratio: spread(
                  at.map((a) => num(a.cpu_ratio_median)),
                  r3,
                ),
              },
            ];
          }),
        ),
      };
    }
  }
  return out;
}

const result = {
  before: { runs: before.map((r) => r.name), commits: [...new Set(before.map((r) => r.commit))], cases: side(before) },
  after: { runs: after.map((r) => r.name), commits: [...new Set(after.map((r) => r.commit))], cases: side(after) },
};
console.log(JSON.stringify(result, null, 2));
writeResult("bench-compare", result);
