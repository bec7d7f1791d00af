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

const range = (v: unknown, d: number) => (Array.isArray(v) && v.length === 2 ? `${n(v[0], d)}-${n(v[1], d)}` : "-");

type ProfileSide = { file: string; busy_ms: number; percent: Record<string, number> };
type ProfileCompare = { old: ProfileSide; new: ProfileSide };

function profileBlock(r: ResultFile<ProfileCompare>): string {
  const { old, new: now } = r.result;
  return [
    `Where the service's CPU goes, old code beside new (\`bench/results/${r.name}.json\`): self time in two V8 profiles of the service (\`BENCH_CPU_PROF\`, the same \`BENCH_CASES=api_key\` run on each), as a share of the profile's busy time (${n(old.busy_ms, 0)} ms and ${n(now.busy_ms, 0)} ms sampled; profiler overhead included, so compare rows).`,
    "",
    "| where | old | new |",
    "|---|---:|---:|",
    ...Object.keys(old.percent).map((k) => `| ${k} | ${n(old.percent[k], 1)}% | ${n(now.percent[k], 1)}% |`),
  ].join("\n");
}

function singleBench(
  r: ResultFile<Record<string, Record<string, unknown>>>,
  compare?: ResultFile<Compare>,
  profile?: ResultFile<ProfileCompare>,
): string {
  const meta = r.result._meta as { rounds?: number; pin?: string } | undefined;
  const lines = [
    src(r),
    `One run; per case the median and range of its ${meta?.rounds ?? "-"} rounds (each round: a case slice and the floor slice next to it)` +
      `${meta?.pin === "both" ? "; `_pinned` rows: the same cases pinned (servers on CPU 0, load generator on CPU 1), the others unpinned as deployed" : meta?.pin === "1" ? "; pinned" : "; unpinned, as deployed"}.`,
    "",
    "| case | calls/s | p50 ms | p99 ms | server CPU ms/call | floor CPU ms/call | CPU x floor | CPU x floor, range | throughput x floor |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  const connections: [string, Record<string, unknown>][] = [];
  for (const [c, row] of Object.entries(r.result)) {
    if (c === "_meta" || (c.startsWith("floor") && !("p50_ms" in row))) continue;
    if ("by_connections" in row) {
      connections.push([c, row]);
      continue;
    }
    if (!("calls_per_s" in row) || !("p50_ms" in row)) continue;
    const ref = row.reference as Record<string, unknown> | undefined;
    lines.push(
      `| ${c} | ${n(row.calls_per_s, 0)} | ${n(row.p50_ms, 2)} | ${n(row.p99_ms, 2)} | ${n(row.server_cpu_ms_per_call_median ?? row.server_cpu_ms_per_call, 4)} | ${n(row.reference_cpu_ms_per_call_median ?? ref?.server_cpu_ms_per_call, 4)} | ${n(row.cpu_ratio_median ?? row.cpu_ratio, 3)} | ${range(row.cpu_ratio_range, 3)} | ${n(row.throughput_ratio_median ?? row.throughput_ratio, 3)} |`,
    );
  }
  for (const [c, row] of connections) {
    const by = row.by_connections as Record<string, Record<string, unknown>>;
    lines.push(
      "",
      `\`${c}\`: 64 calls in flight spread over N connections, each N paired with the floor over N connections. ` +
        `Server CPU per call at the most connections vs the fewest: ${x(row.cpu_growth)} (the floor's own: ${x(row.floor_cpu_growth)}).`,
      "",
      "| connections | calls/s | server CPU ms/call | floor CPU ms/call | CPU x floor | CPU x floor, range | errors |",
      "|---:|---:|---:|---:|---:|---:|---:|",
      ...Object.entries(by).map(
        ([k, v]) =>
          `| ${k} | ${n(v.calls_per_s, 0)} | ${n(v.server_cpu_ms_per_call_median, 4)} | ${n(v.reference_cpu_ms_per_call_median, 4)} | ${n(v.cpu_ratio_median, 3)} | ${range(v.cpu_ratio_range, 3)} | ${n(v.errors, 0)} |`,
      ),
    );
  }
  const targets = (r.result._meta as { targets?: Record<string, { met: boolean; detail: string }> } | undefined)
    ?.targets;
  if (targets) {
    lines.push("", "| target | verdict | detail |", "|---|---|---|");
    for (const [name, t] of Object.entries(targets))
      lines.push(`| ${name} | ${t.met ? "met" : "MISSED"} | ${t.detail.replace(/\|/g, "/")} |`);
  }
  if (compare) lines.push("", compareBlock(compare));
  if (profile) lines.push("", profileBlock(profile));
  return lines.join("\n");
}

type Spread = { median: number | null; range: [number, number] | null };
type CompareCase = {
  server_cpu_ms_per_call?: Spread;
  floor_cpu_ms_per_call?: Spread;
  cpu_ratio?: Spread;
  throughput_ratio?: Spread;
  calls_per_s?: Spread;
  cpu_growth?: Spread;
  floor_cpu_growth?: Spread;
  by_connections?: Record<string, { server_cpu_ms_per_call: Spread; floor_cpu_ms_per_call: Spread; cpu_ratio: Spread }>;
};
type Compare = Record<
  "before" | "after",
  { runs: string[]; commits: (string | null)[]; cases: Record<string, CompareCase> }
>;

const sp = (s: Spread | undefined, d: number, unit = "") =>
  s && s.median !== null
    ? `${n(s.median, d)}${unit} (${s.range ? `${n(s.range[0], d)}-${n(s.range[1], d)}` : "-"})`
    : "-";

function compareBlock(r: ResultFile<Compare>): string {
  const { before, after } = r.result;
  const short = (c: (string | null)[]) => c.map((v) => (v ? v.slice(0, 10) : "unknown")).join(", ");
  const lines = [
    `Before/after (\`bench/results/${r.name}.json\`): runs taken alternately on this machine within the hour, before = commit ${short(before.commits)} (${before.runs.join(", ")}), after = commit ${short(after.commits)} (${after.runs.join(", ")}). Median over runs of each run's per-round median (range over runs).`,
    "",
    "| case | before: server CPU ms/call | after | before: CPU x floor | after | before: throughput x floor | after |",
    "|---|---:|---:|---:|---:|---:|---:|",
  ];
  for (const [c, b] of Object.entries(before.cases)) {
    const a = after.cases[c];
    if (!a || b.by_connections) continue;
    lines.push(
      `| ${c} | ${sp(b.server_cpu_ms_per_call, 4)} | ${sp(a.server_cpu_ms_per_call, 4)} | ${sp(b.cpu_ratio, 3)} | ${sp(a.cpu_ratio, 3)} | ${sp(b.throughput_ratio, 3)} | ${sp(a.throughput_ratio, 3)} |`,
    );
  }
  for (const [c, b] of Object.entries(before.cases)) {
    const a = after.cases[c];
    if (!a?.by_connections || !b.by_connections) continue;
    lines.push(
      "",
      `\`${c}\`: server CPU per call at the most connections vs the fewest, before ${sp(b.cpu_growth, 3, "x")}, after ${sp(a.cpu_growth, 3, "x")}; the floor's own, same runs: ${sp(b.floor_cpu_growth, 3, "x")} and ${sp(a.floor_cpu_growth, 3, "x")}.`,
      "",
      "| connections | before: server CPU ms/call | after | before: floor CPU ms/call | after: floor |",
      "|---:|---:|---:|---:|---:|",
      ...Object.keys(b.by_connections).map((k) => {
        const bb = b.by_connections![k]!;
        const aa = a.by_connections![k];
        return `| ${k} | ${sp(bb.server_cpu_ms_per_call, 4)} | ${sp(aa?.server_cpu_ms_per_call, 4)} | ${sp(bb.floor_cpu_ms_per_call, 4)} | ${sp(aa?.floor_cpu_ms_per_call, 4)} |`;
      }),
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
  const compare = results.get("bench-compare") as ResultFile<Compare> | undefined;
  const profile = results.get("profile-compare") as ResultFile<ProfileCompare> | undefined;
  // The newer of the two kinds of bench output is quoted (a single run now carries its own
  // per-round medians and ranges).
  const singleNewer = single !== undefined && (median === undefined || single.started_at > median.started_at);
  const benchHow =
    "`BENCH_RESULT_NAME=bench-run1 npm run bench` (and run2, run3), `npx tsx bench/tools/median.ts bench/results/bench-run{1,2,3}.json`";
  const m = median?.result as Median | undefined;
  const med = (c: string, p: string) => m?.medians[c]?.[p];
  return {
    bench: singleNewer
      ? singleBench(single!, compare, profile)
      : median
        ? benchTable(median)
        : none("`npm run bench`", benchHow),
    scale: scale ? scaleBlock(scale) : none("`npm run bench:scale`", "`npm run bench:scale`"),
    soak: soak ? soakBlock(soak) : none("the soak", "`npm run soak`"),
    micro: micro ? microBlock(micro) : none("the hot-path micro-benchmark", "`npx tsx bench/tools/hot-path-micro.ts`"),
    summary: singleNewer
      ? singleSummary(single!)
      : m
        ? `${src(median!)} Server CPU per call relative to the floor (medians of ${m.inputs.length} runs): ${x(med("api_key", "cpu_ratio"))} for API keys, ${x(med("session", "cpu_ratio"))} for sessions, ` +
          `${x(med("cognito_cached", "cpu_ratio"))} for cached Cognito JWTs, ${x(med("bad_checksum", "cpu_ratio"))} for tokens with a bad checksum (${n(med("bad_checksum", "store.reads"), 0)} store reads); ` +
          `the listener alone ${x(med("floor_listener", "cpu_ratio"))}.` +
          (scale
            ? ` With ${n(scale.result.keys_1m.keys, 0)} stored keys: ${x(scale.result.throughput_ratio_1m_vs_1k)} the throughput of 1,000, ~${n(scale.result.keys_1m.heap_bytes_per_key, 0)} bytes of heap per key (\`bench/results/${scale.name}.json\`).`
            : "")
        : none("`npm run bench`", benchHow),
  };
}

function singleSummary(r: ResultFile<Record<string, Record<string, unknown>>>): string {
  const row = (c: string) => r.result[c];
  const part = (c: string, what: string) =>
    row(c)
      ? `${x(row(c)!.cpu_ratio_median ?? row(c)!.cpu_ratio)} for ${what} (${range(row(c)!.cpu_ratio_range, 2)})`
      : undefined;
  const parts = (sfx: string) =>
    [
      part(`api_key${sfx}`, "API keys"),
      part(`session${sfx}`, "sessions"),
      part(`cognito_cached${sfx}`, "cached Cognito JWTs"),
      part(`bad_checksum${sfx}`, "tokens with a bad checksum"),
    ]
      .filter(Boolean)
      .join(", ");
  const conn = row("connections");
  const pinned = parts("_pinned");
  type Summary = { cpu_ratio_median?: number; cpu_ratio_range?: number[]; rounds?: number; cpu_ratio_pooled?: number };
  const checkPart = (sfx: string) => {
    const c = row(`check${sfx}`) as { vs_introspect?: Summary; introspect_vs_itself?: Summary } | undefined;
    const v = c?.vs_introspect;
    if (!v) return undefined;
    const own = c.introspect_vs_itself;
    return (
      `${x(v.cpu_ratio_median)} (${range(v.cpu_ratio_range, 2)}, ${v.rounds} rounds, pooled ${x(v.cpu_ratio_pooled)})` +
      (own ? `, Introspect against itself ${x(own.cpu_ratio_median)} (${range(own.cpu_ratio_range, 2)})` : "")
    );
  };
  const check = [checkPart(""), checkPart("_pinned")];
  return (
    `${src(r)} Server CPU per call relative to the no-op grpc-js floor (median of each case's rounds, unpinned as deployed): ${parts("")}.` +
    (pinned ? ` Pinned (servers and load generator on separate cores): ${pinned}.` : "") +
    (conn
      ? ` With 64 calls in flight over 256 connections instead of 1: ${x(conn.cpu_growth)} the CPU per call (the floor's own: ${x(conn.floor_cpu_growth)}).`
      : "") +
    (check[0]
      ? ` Envoy's Check against Introspect on the same service: ${check[0]}` +
        (check[1] ? `; pinned ${check[1]}` : "") +
        "."
      : "")
  );
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
