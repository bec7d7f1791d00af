/**
 * Medians over several `npm run bench` outputs (the JSON last line of each), as a Markdown table.
 * Usage: npm run bench > run1.txt (x3); tsx bench/tools/median.ts run1.txt run2.txt run3.txt
 */
import { readFileSync } from "node:fs";

type Row = Record<string, number | null | undefined | Record<string, unknown>>;
const runs = process.argv.slice(2).map((f) => {
  const lines = readFileSync(f, "utf8").trim().split("\n");
  return JSON.parse(lines[lines.length - 1]!) as Record<string, Row>;
});
const median = (xs: number[]) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const get = (row: Row | undefined, path: string): number => {
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
  ["store writes (calls)", "store.writes_record_key_uses", 0],
  ["last_used keys written", "store.last_used_keys_flushed", 0],
];
console.log(`| case | ${cols.map((c) => c[0]).join(" | ")} |`);
console.log(`|---|${cols.map(() => "---:").join("|")}|`);
for (const c of cases) {
  const vals = cols.map(([, path, d]) => fmt(median(runs.map((r) => get(r[c], path))), d));
  console.log(`| ${c} | ${vals.join(" | ")} |`);
}
const cost = median(runs.map((r) => get(r._meta, "metrics_cost.cpu_percent")));
console.log(`\nmetrics cost (median cpu %): ${fmt(cost, 2)}; runs: ${runs.length}`);
for (const [name] of Object.entries((runs[0]!._meta as { targets: Record<string, unknown> }).targets)) {
  const met = runs.map((r) => ((r._meta as { targets: Record<string, { met: boolean }> }).targets[name]?.met ? "met" : "MISS"));
  console.log(`${name}: ${met.join(", ")}`);
}
