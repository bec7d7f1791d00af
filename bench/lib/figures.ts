import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { ResultFile } from "./results.js";

/**
 * The figures the documentation quotes, rendered from the kept run outputs in bench/results/ (the
 * newest file of each tool). Each quoted block sits between markers in its document:
 *   <!-- figures:NAME -->  ...generated...  <!-- /figures:NAME -->
 * `npm run bench:report` rewrites the blocks; test/docs/figures.test.ts fails when a block differs
 * from what the committed files give (a figure typed by hand, or a run not re-reported).
 */
export type Results = Map<string, ResultFile>;

export function loadResults(dir: string): Results {
  const newest = new Map<string, ResultFile>();
  let names: string[];
  try {
    names = readdirSync(dir)
      .filter((f) => f.endsWith(".json"))
      .sort();
  } catch {
    return newest;
  }
  for (const f of names) {
    const doc = JSON.parse(readFileSync(join(dir, f), "utf8")) as ResultFile;
    const prev = newest.get(doc.tool);
    if (!prev || doc.started_at > prev.started_at) newest.set(doc.tool, doc);
  }
  return newest;
}

const src = (r: ResultFile) =>
  `Source: \`bench/results/${r.name}.json\` (${r.started_at.slice(0, 16).replace("T", " ")} UTC, commit ${r.git.commit?.slice(0, 10) ?? "unknown"}${r.git.dirty ? ", uncommitted changes" : ""}; ${r.machine.cpus} CPUs, ${r.machine.cpuModel}, Node ${r.machine.node}).`;
const none = (what: string, how: string) => `No kept run of ${what} yet: ${how}, then \`npm run bench:report\`.`;
const n = (x: unknown, d: number) =>
  typeof x === "number" && Number.isFinite(x)
    ? x.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d })
    : "-";
const x = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? `${n(v, 2)}x` : "-");

type ScaleRow = {
  keys: number;
  calls_per_s: number;
  p50_ms: number;
  p99_ms: number;
  server_cpu_ms_per_call: number;
  heap_bytes_per_key: number;
  heap_mib: number;
};
type Scale = {
  keys_1k: ScaleRow;
  keys_1m: ScaleRow;
  throughput_ratio_1m_vs_1k: number;
  _meta: { targets: { scale_throughput: boolean } };
  flood: {
    tokens_per_flood: number;
    negative_cache_max_entries: number;
    memory_mib: { rss: number; heap: number }[];
    floods: { calls_per_s: number }[];
    heap_growth_mib: number[];
    bounded: boolean;
  };
};
type Soak = {
  seconds: number;
  calls: number;
  callsPerSecond: number;
  errors: number;
  p99MsByWindow: number[];
  rssMiB: { start: number; end: number };
  issued: { keys: number; sessions: number };
};
type Median = {
  inputs: string[];
  columns: { label: string; path: string; digits: number }[];
  medians: Record<string, Record<string, number | null>>;
  runs: Record<string, Record<string, (number | null)[]>>;
  targets: Record<string, { met: boolean[]; detail: string[] }>;
  metrics_cost_cpu_percent: number | null;
};

function benchTable(r: ResultFile<Median>): string {
  const m = r.result;
  const lines = [
    src(r),
    `Medians of ${m.inputs.length} runs (${m.inputs.map((i) => `\`${i}\``).join(", ")}), per column.`,
    "",
  ];
  lines.push(
    `| case | ${m.columns.map((c) => c.label).join(" | ")} |`,
    `|---|${m.columns.map(() => "---:").join("|")}|`,
  );
  for (const [c, row] of Object.entries(m.medians))
    lines.push(`| ${c} | ${m.columns.map((col) => n(row[col.path], col.digits)).join(" | ")} |`);
  lines.push("", "| target | runs | verdict |", "|---|---|---|");
  for (const [name, t] of Object.entries(m.targets)) {
    lines.push(
      `| ${name} | ${t.detail.map((d) => d.replace(/\|/g, "/")).join("; ")} | ${t.met.every(Boolean) ? "met in every run" : `MISSED in ${t.met.filter((v) => !v).length} of ${t.met.length}`} |`,
    );
  }
  if (m.metrics_cost_cpu_percent !== null)
    lines.push(
      "",
      `Metrics cost, end to end (metrics-on vs metrics-off service, median): ${n(m.metrics_cost_cpu_percent, 2)}% CPU per call.`,
    );
  return lines.join("\n");
}

function singleBench(r: ResultFile<Record<string, Record<string, unknown>>>): string {
  const lines = [
    src(r),
    "One run (no `bench-median` file kept yet).",
    "",
    "| case | calls/s | p50 ms | p99 ms | server CPU ms/call | CPU x floor | throughput x floor |",
    "|---|---:|---:|---:|---:|---:|---:|",
  ];
  for (const [c, row] of Object.entries(r.result)) {
    if (c === "_meta") continue;
    lines.push(
      `| ${c} | ${n(row.calls_per_s, 0)} | ${n(row.p50_ms, 2)} | ${n(row.p99_ms, 2)} | ${n(row.server_cpu_ms_per_call, 4)} | ${n(row.cpu_ratio, 3)} | ${n(row.throughput_ratio, 3)} |`,
    );
  }
  return lines.join("\n");
}

function scaleBlock(r: ResultFile<Scale>): string {
  const s = r.result;
  const lines = [
    src(r),
    "",
    "| store | calls/s | p50 ms | p99 ms | server CPU ms/call | heap per stored key |",
    "|---|---:|---:|---:|---:|---:|",
  ];
  lines.push(
    `| 1,000 keys | ${n(s.keys_1k.calls_per_s, 0)} | ${n(s.keys_1k.p50_ms, 2)} | ${n(s.keys_1k.p99_ms, 1)} | ${n(s.keys_1k.server_cpu_ms_per_call, 4)} | ${n(s.keys_1k.heap_bytes_per_key, 0)} B |`,
  );
  lines.push(
    `| ${n(s.keys_1m.keys, 0)} keys | ${n(s.keys_1m.calls_per_s, 0)} | ${n(s.keys_1m.p50_ms, 2)} | ${n(s.keys_1m.p99_ms, 1)} | ${n(s.keys_1m.server_cpu_ms_per_call, 4)} | ${n(s.keys_1m.heap_bytes_per_key, 0)} B (${n(s.keys_1m.heap_mib, 0)} MiB in total) |`,
  );
  lines.push(
    "",
    `Throughput with ${n(s.keys_1m.keys, 0)} keys: ${x(s.throughput_ratio_1m_vs_1k)} the 1,000-key case (target >= 0.9x: ${s._meta.targets.scale_throughput ? "met" : "MISSED"}).`,
  );
  const f = s.flood;
  lines.push(
    "",
    `Unknown-token flood: ${n(f.tokens_per_flood, 0)} distinct unknown keys per flood (negative cache cap ${n(f.negative_cache_max_entries, 0)}):`,
    "",
    "| after | calls/s | RSS MiB | heap MiB |",
    "|---|---:|---:|---:|",
  );
  f.memory_mib.forEach((m: { rss: number; heap: number }, i: number) => {
    lines.push(
      `| ${i === 0 ? "(before)" : `flood ${i}`} | ${i === 0 ? "" : n(f.floods[i - 1]?.calls_per_s, 0)} | ${n(m.rss, 1)} | ${n(m.heap, 1)} |`,
    );
  });
  lines.push(
    "",
    `Heap growth per flood: ${f.heap_growth_mib.map((v: number) => `${n(v, 2)} MiB`).join(", ")}; bounded: ${f.bounded ? "yes" : "NO"}.`,
  );
  return lines.join("\n");
}

function soakBlock(r: ResultFile<Soak>): string {
  const s = r.result;
  return [
    src(r),
    "",
    `${n(s.seconds, 0)} s, ${n(s.calls, 0)} calls at ~${n(s.callsPerSecond, 0)}/s, ${n(s.errors, 0)} errors; p99 per window ${s.p99MsByWindow.map((v: number) => n(v, 0)).join(", ")} ms; ` +
      `service RSS ${n(s.rssMiB.start, 0)} -> ${n(s.rssMiB.end, 0)} MiB while ${n(s.issued.keys, 0)} keys and ${n(s.issued.sessions, 0)} sessions were created in the memory store.`,
  ].join("\n");
}

function microBlock(r: ResultFile<{ name: string; ns_per_op: number }[]>): string {
  return [
    src(r),
    "",
    "| step | ns per op |",
    "|---|---:|",
    ...r.result.map((m) => `| ${m.name} | ${n(m.ns_per_op, 0)} |`),
  ].join("\n");
}

/** Every block, by name. */
export function renderFigures(results: Results): Record<string, string> {
  // The kept files are JSON as each tool wrote it: typed here, at the one place they are read.
  const median = results.get("bench-median") as ResultFile<Median> | undefined;
  const single = results.get("bench") as ResultFile<Record<string, Record<string, unknown>>> | undefined;
  const scale = results.get("bench-scale") as ResultFile<Scale> | undefined;
  const soak = results.get("soak") as ResultFile<Soak> | undefined;
  const micro = results.get("hot-path-micro") as ResultFile<{ name: string; ns_per_op: number }[]> | undefined;
  const benchHow =
    "`BENCH_RESULT_NAME=bench-run1 npm run bench` (and run2, run3), `npx tsx bench/tools/median.ts bench/results/bench-run{1,2,3}.json`";
  const m = median?.result as Median | undefined;
  const med = (c: string, p: string) => m?.medians[c]?.[p];
  return {
    bench: median ? benchTable(median) : single ? singleBench(single) : none("`npm run bench`", benchHow),
    scale: scale ? scaleBlock(scale) : none("`npm run bench:scale`", "`npm run bench:scale`"),
    soak: soak ? soakBlock(soak) : none("the soak", "`npm run soak`"),
    micro: micro ? microBlock(micro) : none("the hot-path micro-benchmark", "`npx tsx bench/tools/hot-path-micro.ts`"),
    summary: m
      ? `${src(median!)} Server CPU per call relative to the floor (medians of ${m.inputs.length} runs): ${x(med("api_key", "cpu_ratio"))} for API keys, ${x(med("session", "cpu_ratio"))} for sessions, ` +
        `${x(med("cognito_cached", "cpu_ratio"))} for cached Cognito JWTs, ${x(med("bad_checksum", "cpu_ratio"))} for tokens with a bad checksum (${n(med("bad_checksum", "store.reads"), 0)} store reads); ` +
        `the listener alone ${x(med("floor_listener", "cpu_ratio"))}.` +
        (scale
          ? ` With ${n(scale.result.keys_1m.keys, 0)} stored keys: ${x(scale.result.throughput_ratio_1m_vs_1k)} the throughput of 1,000, ~${n(scale.result.keys_1m.heap_bytes_per_key, 0)} bytes of heap per key (\`bench/results/${scale.name}.json\`).`
          : "")
      : none("`npm run bench`", benchHow),
  };
}

const marker = (name: string) => new RegExp(`(<!-- figures:${name} -->\\n)([\\s\\S]*?)(<!-- /figures:${name} -->)`);

/** The document with every figures block it contains replaced; `missing` lists blocks it lacks. */
export function applyFigures(doc: string, blocks: Record<string, string>): string {
  let out = doc;
  for (const [name, text] of Object.entries(blocks))
    out = out.replace(marker(name), (_m, a: string, _b, c: string) => `${a}${text}\n${c}`);
  return out;
}

export const FIGURE_DOCS = ["BENCHMARKS.md", "docs/performance.md", "docs/security.md"];
