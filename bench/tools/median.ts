/**
 * Medians over several `npm run bench` runs, printed as a Markdown table and kept as
 * bench/results/<name>.json (BENCH_RESULT_NAME, default bench-median-<UTC time>).
 *
 * Usage: npx tsx bench/tools/median.ts bench/results/bench-run1.json bench/results/bench-run2.json ...
 * (a saved stdout of `npm run bench`, whose last line is the JSON object, is accepted too).
 */
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { writeResult } from "../lib/results.js";

type Row = Record<string, unknown>;
type Run = Record<string, Row>;
const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: npx tsx bench/tools/median.ts <bench result .json or saved output> ...");
  process.exit(2);
}
const inputs = files.map((f) => {
  const text = readFileSync(f, "utf8").trim();
  if (f.endsWith(".json")) {
    const doc = JSON.parse(text) as { tool?: string; name?: string; result?: Run };
    if (doc.tool !== "bench" || !doc.result) throw new Error(`${f}: not an \`npm run bench\` result file`);
    return { name: doc.name ?? basename(f, ".json"), run: doc.result };
  }
  const lines = text.split("\n");
  return { name: basename(f), run: JSON.parse(lines[lines.length - 1]!) as Run };
});
const runs = inputs.map((i) => i.run);

const median = (xs: number[]) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const get = (row: unknown, path: string): number => {
  let v: unknown = row;
  for (const k of path.split(".")) v = (v as Record<string, unknown> | undefined)?.[k];
  return typeof v === "number" ? v : NaN;
};
const fmt = (n: number, d: number) => (Number.isFinite(n) ? n.toFixed(d) : "-");
const cases = Object.keys(runs[0]!).filter((k) => k !== "_meta");
const cols: [string, string, number][] = [
  ["calls/s", "calls_per_s", 0],
  ["p50 ms", "p50_ms", 2],
  ["p99 ms", "p99_ms", 2],
  ["server CPU ms/call", "server_cpu_ms_per_call", 4],
  ["CPU x floor", "cpu_ratio", 3],
  ["throughput x floor", "throughput_ratio", 3],
  ["floor CPU ms/call", "reference.server_cpu_ms_per_call", 4],
  ["store reads", "store.reads", 0],
  ["token reads", "store.find_key_by_hash+store.find_session_by_hash", 0],
  ["policy reads", "store.get_policy", 0],
  ["store writes (calls)", "store.writes_record_key_uses", 0],
  ["last_used keys written", "store.last_used_keys_flushed", 0],
  ["other CPU %", "other_cpu_percent", 1],
];
const value = (row: unknown, path: string) => path.split("+").reduce((n, p) => n + get(row, p), 0);

const out: {
  inputs: string[];
  columns: { label: string; path: string; digits: number }[];
  medians: Record<string, Record<string, number | null>>;
  runs: Record<string, Record<string, (number | null)[]>>;
  targets: Record<string, { met: boolean[]; detail: string[] }>;
  metrics_cost_cpu_percent: number | null;
} = {
  inputs: inputs.map((i) => i.name),
  columns: cols.map(([label, path, digits]) => ({ label, path, digits })),
  medians: {},
  runs: {},
  targets: {},
  metrics_cost_cpu_percent: null,
};

console.log(`| case | ${cols.map((c) => c[0]).join(" | ")} |`);
console.log(`|---|${cols.map(() => "---:").join("|")}|`);
for (const c of cases) {
  out.medians[c] = {};
  out.runs[c] = {};
  const vals = cols.map(([, path, d]) => {
    const each = runs.map((r) => value(r[c], path));
    const m = median(each);
    out.medians[c]![path] = Number.isFinite(m) ? m : null;
    out.runs[c]![path] = each.map((x) => (Number.isFinite(x) ? x : null));
    return fmt(m, d);
  });
  console.log(`| ${c} | ${vals.join(" | ")} |`);
}
const cost = median(runs.map((r) => get(r._meta, "metrics_cost.cpu_percent")));
out.metrics_cost_cpu_percent = Number.isFinite(cost) ? cost : null;
console.log(`\nmetrics cost (median cpu %): ${fmt(cost, 2)}; runs: ${runs.length}`);
type Targets = Record<string, { met: boolean; detail: string }>;
for (const name of Object.keys((runs[0]!._meta as { targets: Targets }).targets)) {
  const each = runs.map((r) => (r._meta as { targets: Targets }).targets[name]);
  out.targets[name] = { met: each.map((t) => Boolean(t?.met)), detail: each.map((t) => t?.detail ?? "") };
  console.log(`${name}: ${each.map((t) => (t?.met ? "met" : "MISS")).join(", ")}`);
}
writeResult("bench-median", out);
