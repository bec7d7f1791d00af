/**
 * Where the service's CPU goes, old code beside new: self time of two V8 profiles (node
 * --cpu-prof, e.g. `BENCH_CPU_PROF=<dir> BENCH_CASES=api_key npm run bench` on each), grouped
 * into the rows issue 21 names, as a share of each profile's busy time (idle excluded; profiler
 * overhead included, so compare rows, not absolute values). Kept as bench/results/<name>.json
 * (BENCH_RESULT_NAME, default profile-compare-<UTC time>), rendered by `npm run bench:report`.
 *
 * Usage: npx tsx bench/tools/profile-compare.ts <old .cpuprofile> <new .cpuprofile>
 */
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { writeResult } from "../lib/results.js";

interface Node {
  id: number;
  callFrame: { functionName: string; url: string };
}
type Profile = { nodes: Node[]; samples: number[]; timeDeltas: number[] };

/** The rows, first match wins. */
const ROWS: [string, (fn: string, url: string) => boolean][] = [
  ["idle", (fn) => fn === "(idle)"],
  ["GC", (fn) => fn === "(garbage collector)"],
  ["hashing (token-hash, node:crypto)", (_f, u) => /token-hash|node:crypto|internal\/crypto/.test(u)],
  ["metrics (plain-metrics, prom-client)", (_f, u) => /observability\/|prom-client/.test(u)],
  ["caches (token-cache, lru-cache)", (_f, u) => /token-cache|lru-cache/.test(u)],
  ["call observer", (_f, u) => /call-observer/.test(u)],
  ["codec (introspect-codec)", (_f, u) => /introspect-codec|malformed-request/.test(u)],
  ["HTTP/2 stream dispatcher (http2-streams)", (_f, u) => /http2-streams/.test(u)],
  ["gRPC served on the stream (grpc/direct)", (_f, u) => /transport\/grpc\/direct\//.test(u)],
  ["handler, introspector, wrapper, mapping (src/)", (_f, u) => /\/src\//.test(u) && !/\/gen\/|node_modules/.test(u)],
  ["protobuf-es", (_f, u) => /@bufbuild/.test(u)],
  ["@grpc/grpc-js", (_f, u) => /@grpc\/grpc-js/.test(u)],
  ["timers and microtasks", (_f, u) => /internal\/timers|task_queues|internal\/process/.test(u)],
  ["node:http2", (_f, u) => /internal\/http2/.test(u)],
  [
    "node events and streams",
    (_f, u) => /node:events|internal\/streams|node:stream|node:net|internal\/stream_base/.test(u),
  ],
  ["other node internals", (_f, u) => u.startsWith("node:")],
  ["(program) and native", (fn, u) => u === "" || fn.startsWith("(")],
  ["other", () => true],
];

function shares(file: string) {
  const prof = JSON.parse(readFileSync(file, "utf8")) as Profile;
  const rowOf = new Map<number, string>();
  for (const n of prof.nodes) rowOf.set(n.id, ROWS.find(([, m]) => m(n.callFrame.functionName, n.callFrame.url))![0]);
  const us = new Map<string, number>();
  prof.samples.forEach((id, i) => {
    const row = rowOf.get(id) ?? "other";
    us.set(row, (us.get(row) ?? 0) + (prof.timeDeltas[i] ?? 0));
  });
  const busy = [...us.entries()].filter(([k]) => k !== "idle").reduce((a, [, v]) => a + v, 0);
  return {
    file: basename(file),
    busy_ms: Math.round(busy / 1000),
    percent: Object.fromEntries(
      ROWS.map(([k]) => k)
        .filter((k) => k !== "idle")
        .map((k) => [k, Math.round(((us.get(k) ?? 0) / busy) * 1000) / 10]),
    ),
  };
}

const [oldFile, newFile] = process.argv.slice(2);
if (!oldFile || !newFile) {
  console.error("usage: npx tsx bench/tools/profile-compare.ts <old .cpuprofile> <new .cpuprofile>");
  process.exit(2);
}
const result = { old: shares(oldFile), new: shares(newFile) };
for (const k of Object.keys(result.old.percent))
  console.log(
    `${k.padEnd(48)} ${String(result.old.percent[k]).padStart(6)}% ${String(result.new.percent[k]).padStart(6)}%`,
  );
writeResult("profile-compare", result);
