/**
 * npm run bench:scale: does Introspect stay fast with a large store, and does memory stay bounded
 * under a flood of unknown tokens?
 *
 * 1. Two services, one with 1,000 and one with 1,000,000 API keys seeded straight into the memory
 *    store at start (bench/service-entry.ts, BENCH_PREFILL_KEYS; not through 1M RPCs). Memory per
 *    stored key = heapUsed growth (after GC) / keys.
 * 2. Warm throughput: the same load (1,000 distinct stored keys, spread over the whole store,
 *    64 calls in flight) on both, in alternating slices (the machine is shared), ratio 1M / 1k.
 * 3. Flood: 100,000 distinct unknown API keys (well formed, valid checksum), each sent once, three
 *    times over; heap and resident memory after each flood (after GC) against the caches' caps.
 *
 * 4. last_used_at write load on MongoDB with several simulated instances (bench/lib/last-used-load.ts):
 *    documents written per second with the adapter's 1 s coarseness filter, against what `$max`
 *    alone would write under the same load. Kept as its own result, bench-scale-last-used.
 *
 * Knobs: BENCH_SCALE_KEYS (1000000), BENCH_FLOOD (100000), BENCH_FLOODS (3), BENCH_ROUNDS (5),
 * BENCH_CASE_MS (2000); BENCH_LAST_USED_INSTANCES (5), BENCH_LAST_USED_KEYS (1000),
 * BENCH_LAST_USED_SECONDS (10); BENCH_SCALE_ONLY=last-used runs step 4 alone.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { IntrospectRequestSchema } from "../src/gen/warpflow/auth/v1/token_service_pb.js";
import { buildBench } from "./lib/build.js";
import { INTROSPECT_PATH } from "./lib/constants.js";
import { measurePaired, openChannel, startLoadGenerator, startService, stopAll, type Service } from "./lib/harness.js";
import { ask } from "./lib/proc.js";
import { log, machine, r2, r3, summarize, table } from "./lib/report.js";
import { writeResult } from "./lib/results.js";
import { measureLastUsedLoad } from "./lib/last-used-load.js";

const env = process.env;
const BIG = Number(env.BENCH_SCALE_KEYS ?? 1_000_000);
const SMALL = 1000;
const FLOOD = Number(env.BENCH_FLOOD ?? 100_000);
const FLOODS = Number(env.BENCH_FLOODS ?? 3);
const ROUNDS = Number(env.BENCH_ROUNDS ?? 5);
const CASE_MS = Number(env.BENCH_CASE_MS ?? 2000);
const SAMPLE = 1000;
const MiB = 1024 * 1024;
const CACHE_MAX = 100_000;
const NEGATIVE_MAX = 50_000;

const dir = mkdtempSync(join(tmpdir(), "wf-bench-scale-"));
const encode = (token: string) =>
  Buffer.from(toBinary(IntrospectRequestSchema, create(IntrospectRequestSchema, { token }))).toString("hex");

async function start(keys: number): Promise<Service> {
  log(`starting a service with ${keys.toLocaleString("en-US")} stored keys`);
  const s = await startService(
    {
      ADMIN_KEY_FILE: join(dir, `admin-key-${keys}`),
      BENCH_PREFILL_KEYS: String(keys),
      BENCH_PREFILL_SAMPLE: String(SAMPLE),
      CACHE_MAX_ENTRIES: String(CACHE_MAX),
      NEGATIVE_CACHE_MAX_ENTRIES: String(NEGATIVE_MAX),
      LOG_LEVEL: "warn",
    },
    { execArgv: ["--max-old-space-size=6144"], logFile: join(dir, `service-${keys}.log`) },
  );
  log(`  seeded in ${s.prefill!.seconds.toFixed(1)} s: heap +${(s.prefill!.heapDeltaBytes / MiB).toFixed(1)} MiB`);
  return s;
}

const memory = (s: Service) => ask<{ rss: number; heapUsed: number }>(s.child, { type: "memory" });

/** Step 4: last_used_at writes per second with several instances. */
async function lastUsedLoad() {
  const instances = Number(env.BENCH_LAST_USED_INSTANCES ?? 5);
  const keys = Number(env.BENCH_LAST_USED_KEYS ?? 1000);
  const seconds = Number(env.BENCH_LAST_USED_SECONDS ?? 10);
  log(`last_used_at: ${instances} instances, ${keys} busy keys each used every 100 ms on every instance, ${seconds} s`);
  const r = await measureLastUsedLoad({ instances, keys, seconds });
  process.stdout.write(
    `${table(
      ["last_used_at (MongoDB adapter)", "docs written/s", "per key/s"],
      [
        ["with the 1 s coarseness filter", r.writes_per_s, r.writes_per_key_per_s],
        ["$max alone (same load, for comparison)", r.max_only_writes_per_s, r.max_only_writes_per_key_per_s],
      ],
    )}\n`,
  );
  process.stdout.write(
    `INFO  update statements sent: ${r.statements_per_s}/s; stored lastUsedAt at most ${r.worst_stored_lag_ms} ms behind now (${r.deployment})\n`,
  );
  process.stdout.write(`${JSON.stringify(r)}\n`);
  writeResult("bench-scale-last-used", r);
}

async function main() {
  if (env.BENCH_SCALE_ONLY === "last-used") return lastUsedLoad();
  buildBench();
  const loadgen = await startLoadGenerator(join(dir, "load-generator.log"));
  const small = await start(SMALL);
  const big = await start(BIG);
  await openChannel(loadgen, "small", small.address);
  await openChannel(loadgen, "big", big.address);

  log(`warm throughput: ${SAMPLE} distinct stored keys, ${ROUNDS} x ${CASE_MS} ms on each, alternating`);
  const paired = await measurePaired({
    label: "scale",
    loadgen,
    subject: { channel: "big", pid: big.child.pid!, path: INTROSPECT_PATH, requestsHex: big.sample.map(encode) },
    reference: {
      channel: "small",
      pid: small.child.pid!,
      path: INTROSPECT_PATH,
      requestsHex: small.sample.map(encode),
    },
    rounds: ROUNDS,
    subjectMs: CASE_MS,
    referenceMs: CASE_MS,
    warmupMs: CASE_MS,
    concurrency: 64,
  });
  for (const m of [paired.subject, paired.reference]) {
    if (m.errors > 0 || !m.firstResponse?.active)
      throw new Error(`scale: unexpected answers (${m.errors} errors, first ${JSON.stringify(m.firstResponse)})`);
  }

  log(
    `flood: ${FLOOD.toLocaleString("en-US")} distinct unknown tokens, ${FLOODS} times, on the ${BIG.toLocaleString("en-US")}-key service`,
  );
  const mem = [await memory(big)];
  const floods: { calls: number; errors: number; notFound: number; seconds: number }[] = [];
  for (let i = 0; i < FLOODS; i++) {
    floods.push(
      await ask(
        loadgen,
        { type: "flood", name: "big", path: INTROSPECT_PATH, count: FLOOD, tenantId: "flood", concurrency: 64 },
        600_000,
      ),
    );
    mem.push(await memory(big));
  }
  await stopAll([small.child, big.child, loadgen]);

  const big1 = summarize(paired.subject, paired.reference);
  const small1 = summarize(paired.reference, undefined);
  const ratio = paired.subject.callsPerSecond / paired.reference.callsPerSecond;
  const perKeySmall = small.prefill!.heapDeltaBytes / SMALL;
  const perKeyBig = big.prefill!.heapDeltaBytes / BIG;
  const rows = [
    [
      `${SMALL.toLocaleString("en-US")} keys`,
      small1.calls_per_s,
      small1.p50_ms,
      small1.p99_ms,
      small1.server_cpu_ms_per_call,
      1,
      Math.round(perKeySmall),
      r2(small.prefill!.heapDeltaBytes / MiB),
    ],
    [
      `${BIG.toLocaleString("en-US")} keys`,
      big1.calls_per_s,
      big1.p50_ms,
      big1.p99_ms,
      big1.server_cpu_ms_per_call,
      big1.throughput_ratio,
      Math.round(perKeyBig),
      r2(big.prefill!.heapDeltaBytes / MiB),
    ],
  ];
  process.stdout.write(
    `\n${table(["store", "calls/s", "p50 ms", "p99 ms", "cpu ms/call", "tput x 1k", "heap B/key", "heap MiB"], rows)}\n\n`,
  );
  const floodRows = [
    ["before", null, r2(mem[0]!.rss / MiB), r2(mem[0]!.heapUsed / MiB)],
    ...floods.map((f, i) => [
      `after flood ${i + 1} (${f.calls} calls, ${f.notFound} not_found)`,
      r2(f.calls / f.seconds),
      r2(mem[i + 1]!.rss / MiB),
      r2(mem[i + 1]!.heapUsed / MiB),
    ]),
  ];
  process.stdout.write(
    `${table([`flood (${BIG.toLocaleString("en-US")}-key service)`, "calls/s", "rss MiB", "heap MiB"], floodRows)}\n\n`,
  );
  const heapGrowth = mem.slice(1).map((m, i) => (m.heapUsed - mem[i]!.heapUsed) / MiB);
  const rssGrowth = mem.slice(1).map((m, i) => (m.rss - mem[i]!.rss) / MiB);
  const met = ratio >= 0.9;
  process.stdout.write(
    `${met ? "MET " : "MISS"}  scale: warm throughput with ${BIG.toLocaleString("en-US")} keys = ${r3(ratio)}x the ${SMALL.toLocaleString("en-US")}-key case (>= 0.9x)\n`,
  );
  process.stdout.write(
    `INFO  memory per stored key (memory adapter): ${Math.round(perKeyBig)} bytes of heap (${BIG.toLocaleString("en-US")} keys)\n`,
  );
  // Bounded: once the negative cache is full, further floods add (almost) nothing to the heap.
  const bounded = heapGrowth.slice(1).every((g) => g < Math.max(4, heapGrowth[0]! * 0.25));
  process.stdout.write(
    `${bounded ? "MET " : "MISS"}  flood: heap growth per flood of ${FLOOD.toLocaleString("en-US")} unknown tokens ${heapGrowth.map((g) => `${r2(g)}`).join(", ")} MiB (negative cache capped at ${NEGATIVE_MAX.toLocaleString("en-US")} entries); rss growth ${rssGrowth.map((g) => `${r2(g)}`).join(", ")} MiB\n`,
  );
  const out = {
    keys_1k: { ...small1, heap_bytes_per_key: Math.round(perKeySmall), seed_seconds: r2(small.prefill!.seconds) },
    keys_1m: {
      ...big1,
      keys: BIG,
      heap_bytes_per_key: Math.round(perKeyBig),
      heap_mib: r2(big.prefill!.heapDeltaBytes / MiB),
      seed_seconds: r2(big.prefill!.seconds),
    },
    throughput_ratio_1m_vs_1k: r3(ratio),
    flood: {
      tokens_per_flood: FLOOD,
      negative_cache_max_entries: NEGATIVE_MAX,
      memory_mib: mem.map((m) => ({ rss: r2(m.rss / MiB), heap: r2(m.heapUsed / MiB) })),
      floods: floods.map((f) => ({ calls_per_s: r2(f.calls / f.seconds), not_found: f.notFound, errors: f.errors })),
      heap_growth_mib: heapGrowth.map(r2),
      rss_growth_mib: rssGrowth.map(r2),
      bounded,
    },
    _meta: {
      machine: machine(),
      rounds: ROUNDS,
      case_ms: CASE_MS,
      sample_tokens: SAMPLE,
      targets: { scale_throughput: met, flood_bounded: bounded },
    },
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
  writeResult("bench-scale", out);
  await lastUsedLoad();
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`bench:scale failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
