/**
 * npm run bench: Introspect over gRPC against the platform floor, in one run.
 *
 * Processes: the service (bench/service-entry.ts: the real app on the embedded store), the floor
 * (bench/floor-server.ts: plain grpc-js, no-op unary) and the load generator
 * (bench/load-generator.ts: grpc-js client, 64 calls in flight), each on its own. Every case: a
 * warm-up, then a fixed measured window; server CPU from /proc/<pid>/stat, store traffic from the
 * service's /metrics. Prints a table; the LAST line is one JSON object keyed by case name.
 *
 * Knobs: BENCH_WARMUP_MS (3000), BENCH_MEASURE_MS (10000), BENCH_CONCURRENCY (64),
 * BENCH_CASES=floor,api_key,... (default all), BENCH_CPU_PROF=<dir> (service runs with --cpu-prof).
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { generateToken } from "../src/domain/token-format.js";
import {
  InactiveReason,
  IntrospectRequestSchema,
  IntrospectResponseSchema,
} from "../src/gen/warpflow/auth/v1/token_service_pb.js";
import { createGrpcTokenClient } from "../test/support/grpc-client.js";
import { FLOOR_PATH, INTROSPECT_PATH } from "./lib/constants.js";
import { measureCase, startFloor, startLoadGenerator, startService, stopAll, type CaseResult, type Service } from "./lib/harness.js";
import { createLocalCognito } from "./lib/jwt.js";
import { log, machine, r2, r3, r4, summarize, table } from "./lib/report.js";

const WARMUP_MS = Number(process.env.BENCH_WARMUP_MS ?? 3000);
const MEASURE_MS = Number(process.env.BENCH_MEASURE_MS ?? 10_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);
const CACHE_TTL_MS = 2000;
const FLUSH_MS = 1000;
const ALL_CASES = ["floor", "floor_listener", "api_key", "session", "cognito_cached", "bad_checksum", "unknown_key", "api_key_metrics_off", "floor_end"];
const CASES = new Set(process.env.BENCH_CASES ? process.env.BENCH_CASES.split(",") : ALL_CASES);
const DISTINCT = 10;

const dir = mkdtempSync(join(tmpdir(), "wf-bench-"));
const encode = (token: string) => Buffer.from(toBinary(IntrospectRequestSchema, create(IntrospectRequestSchema, { token }))).toString("hex");
const flipChecksum = (t: string) => t.slice(0, -1) + (t.endsWith("a") ? "b" : "a");

function serviceEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    ADMIN_KEY_FILE: join(dir, `admin-key-${Math.random().toString(36).slice(2)}`),
    CACHE_TTL_MS: String(CACHE_TTL_MS),
    LAST_USED_FLUSH_MS: String(FLUSH_MS),
    ...extra,
  };
}

function profArgs(tag: string): string[] {
  const d = process.env.BENCH_CPU_PROF;
  // One directory per process: node names each thread's profile (the tsx loader has a thread too).
  return d ? ["--cpu-prof", `--cpu-prof-dir=${join(d, tag)}`] : [];
}

/** API keys on four tenants (three active keys per tenant at most) and sessions, via the admin API. */
async function seed(service: Service) {
  const client = createGrpcTokenClient(service.address);
  const admin = { bearer: service.adminKey };
  const keys: string[] = [];
  const sessions: string[] = [];
  for (let i = 0; i < DISTINCT; i++) {
    const tenantId = `bench-${Math.floor(i / 3)}`;
    keys.push((await client.createKey({ tenantId, label: `bench ${i}` }, admin)).token);
    sessions.push((await client.createSession({ tenantId }, admin)).token);
  }
  const sampleResponse = toBinary(IntrospectResponseSchema, await client.introspect({ token: keys[0]! }));
  return { client, keys, sessions, sampleResponseHex: Buffer.from(sampleResponse).toString("hex") };
}

async function main() {
  const results: Record<string, CaseResult> = {};
  const skipped: Record<string, string> = {};
  const expectations: Record<string, { active: boolean; reason?: InactiveReason }> = {
    floor: { active: true },
    floor_listener: { active: true },
    floor_end: { active: true },
    api_key: { active: true },
    session: { active: true },
    cognito_cached: { active: true },
    bad_checksum: { active: false, reason: InactiveReason.MALFORMED },
    unknown_key: { active: false, reason: InactiveReason.NOT_FOUND },
    api_key_metrics_off: { active: true },
  };

  log(`logs and JWKS in ${dir}; warm-up ${WARMUP_MS} ms, measure ${MEASURE_MS} ms, ${CONCURRENCY} in flight`);
  const cognito = createLocalCognito(join(dir, "jwks.json"));
  const loadgen = await startLoadGenerator(join(dir, "load-generator.log"));
  let service: Service | undefined = await startService(
    serviceEnv({
      COGNITO_USER_POOL_ID: cognito.userPoolId,
      COGNITO_CLIENT_ID: cognito.clientId,
      COGNITO_JWKS_FILE: cognito.jwksFile,
    }),
    { execArgv: profArgs("service"), logFile: join(dir, "service.log") },
  );
  const seeded = await seed(service);
  const floor = await startFloor(seeded.sampleResponseHex, join(dir, "floor.log"));
  const floorListener = await startFloor(seeded.sampleResponseHex, join(dir, "floor-listener.log"), { FLOOR_LISTENER: "service" });

  let jwts: string[] = [];
  if (!service.cognito.enabled) {
    skipped.cognito_cached = `Cognito adapter not available: ${service.cognito.error ?? "disabled"}`;
  } else {
    jwts = Array.from({ length: 4 }, (_, i) => cognito.sign({ sub: `user-${i}`, tenantId: `bench-${i}` }));
    const first = await seeded.client.introspect({ token: jwts[0]! });
    if (!first.active) skipped.cognito_cached = `a locally signed JWT introspects inactive (reason ${InactiveReason[first.inactiveReason]})`;
  }

  const plans: { name: string; tokens: string[]; path: string; target: "service" | "floor" | "floor_listener" }[] = [
    { name: "floor", tokens: seeded.keys, path: FLOOR_PATH, target: "floor" },
    { name: "floor_listener", tokens: seeded.keys, path: FLOOR_PATH, target: "floor_listener" },
    { name: "api_key", tokens: seeded.keys, path: INTROSPECT_PATH, target: "service" },
    { name: "session", tokens: seeded.sessions, path: INTROSPECT_PATH, target: "service" },
    { name: "cognito_cached", tokens: jwts, path: INTROSPECT_PATH, target: "service" },
    { name: "bad_checksum", tokens: seeded.keys.map(flipChecksum), path: INTROSPECT_PATH, target: "service" },
    {
      name: "unknown_key",
      tokens: Array.from({ length: DISTINCT }, (_, i) => generateToken("api_key", `bench-${i % 4}`)),
      path: INTROSPECT_PATH,
      target: "service",
    },
  ];
  if (CASES.has("api_key_metrics_off")) plans.push({ name: "api_key_metrics_off", tokens: [], path: INTROSPECT_PATH, target: "service" });
  plans.push({ name: "floor_end", tokens: seeded.keys, path: FLOOR_PATH, target: "floor" });
  for (const plan of plans) {
    if (!CASES.has(plan.name)) continue;
    if (skipped[plan.name]) {
      log(`${plan.name}: SKIPPED (${skipped[plan.name]})`);
      continue;
    }
    log(`${plan.name}: running`);
    if (plan.name === "api_key_metrics_off") {
      results[plan.name] = await metricsOff();
      continue;
    }
    const server = plan.target === "floor" ? floor : plan.target === "floor_listener" ? floorListener : service;
    results[plan.name] = await measureCase({
      name: plan.name,
      loadgen,
      server: { child: server.child, address: server.address, port: plan.target === "service" ? service.port : undefined },
      path: plan.path,
      requestsHex: plan.tokens.map(encode),
      concurrency: CONCURRENCY,
      warmupMs: WARMUP_MS,
      measureMs: MEASURE_MS,
      scrapeMetrics: plan.target === "service",
    });
  }
  seeded.client.close();
  await stopAll([service.child, floor.child, floorListener.child, loadgen]);
  service = undefined;

  async function metricsOff(): Promise<CaseResult> {
    log("api_key_metrics_off: a second service built without metrics (the first one idles meanwhile)");
    const bare = await startService(serviceEnv({ BENCH_METRICS: "off" }), { execArgv: profArgs("service-nometrics"), logFile: join(dir, "service-nometrics.log") });
    const s = await seed(bare);
    s.client.close();
    const r = await measureCase({
      name: "api_key_metrics_off",
      loadgen,
      server: bare,
      path: INTROSPECT_PATH,
      requestsHex: s.keys.map(encode),
      concurrency: CONCURRENCY,
      warmupMs: WARMUP_MS,
      measureMs: MEASURE_MS,
      scrapeMetrics: false,
    });
    await stopAll([bare.child]);
    return r;
  }

  // Report.
  const floorResult = results.floor;
  const out: Record<string, unknown> = {};
  const rows: (string | number | null)[][] = [];
  const checks: string[] = [];
  for (const name of ALL_CASES) {
    const r = results[name];
    if (!r) {
      if (skipped[name]) {
        out[name] = { skipped: skipped[name] };
        rows.push([name, "skipped", null, null, null, null, null, null, null, null, null, null]);
      }
      continue;
    }
    const s = summarize(r, floorResult);
    const want = expectations[name]!;
    const got = r.firstResponse;
    const answerOk = got !== undefined && got.active === want.active && (want.reason === undefined || got.inactiveReason === want.reason);
    if (!answerOk) checks.push(`${name}: unexpected answer ${JSON.stringify(got)}`);
    if (r.errors > 0) checks.push(`${name}: ${r.errors} calls failed`);
    const reads = r.store ? r.store.findKeyByHash + r.store.findSessionByHash + r.store.getPolicy : null;
    const writes = r.store ? `${r.store.recordKeyUses}/${r.store.lastUsedKeysFlushed}` : null;
    out[name] = { ...s, answer_ok: answerOk };
    rows.push([name, r2(r.callsPerSecond), r3(r.p50Ms), r3(r.p99Ms), r4(r.serverCpuMsPerCall), s.cpu_ratio, s.throughput_ratio, Math.round(r.serverCpuPercent), Math.round(r.clientCpuPercent), Math.round(r.otherCpuPercent), reads, writes]);
  }

  // Targets (issue 5), each against the floor of this run.
  const targets: Record<string, { met: boolean; detail: string }> = {};
  const lifetimes = MEASURE_MS / CACHE_TTL_MS;
  const flushes = MEASURE_MS / FLUSH_MS;
  for (const name of ["api_key", "session", "cognito_cached", "bad_checksum"]) {
    const r = results[name];
    if (!r || !floorResult) continue;
    const cpu = r.serverCpuMsPerCall / floorResult.serverCpuMsPerCall;
    const tput = r.callsPerSecond / floorResult.callsPerSecond;
    if (name === "bad_checksum") {
      const reads = r.store?.storeReads ?? NaN;
      targets[name] = { met: cpu <= 1.2 && reads === 0, detail: `cpu ${r3(cpu)}x (<= 1.2x), store reads ${reads} (= 0)` };
    } else {
      targets[name] = { met: cpu <= 1.5 && tput >= 0.8, detail: `cpu ${r3(cpu)}x (<= 1.5x), throughput ${r3(tput)}x (>= 0.8x)` };
    }
  }
  for (const name of ["api_key", "session", "unknown_key"]) {
    const r = results[name];
    if (!r?.store) continue;
    const tokenReads = r.store.findKeyByHash + r.store.findSessionByHash;
    const allowed = r.distinctTokens * (Math.floor(lifetimes) + 1);
    targets[`${name}_store_reads`] = {
      met: tokenReads <= allowed,
      detail: `${tokenReads} token reads for ${r.distinctTokens} tokens over ${lifetimes} cache lifetimes (<= ${allowed}; ${r3(tokenReads / (r.distinctTokens * lifetimes))} per token per lifetime)`,
    };
  }
  if (results.api_key?.store) {
    const st = results.api_key.store;
    const allowed = DISTINCT * (Math.floor(flushes) + 1);
    targets.api_key_last_used_writes = {
      met: st.lastUsedKeysFlushed <= allowed && st.recordKeyUses <= Math.floor(flushes) + 1,
      detail: `${results.api_key.calls} calls -> ${st.recordKeyUses} recordKeyUses writes carrying ${st.lastUsedKeysFlushed} key updates for ${DISTINCT} keys over ${flushes} flush intervals (<= ${allowed})`,
    };
  }
  let metricsCost: Record<string, number | null> | undefined;
  if (results.api_key && results.api_key_metrics_off) {
    const on = results.api_key;
    const off = results.api_key_metrics_off;
    metricsCost = {
      cpu_percent: r2((on.serverCpuMsPerCall / off.serverCpuMsPerCall - 1) * 100),
      throughput_percent: r2((1 - on.callsPerSecond / off.callsPerSecond) * 100),
    };
  }

  const header = ["case", "calls/s", "p50 ms", "p99 ms", "cpu ms/call", "cpu x floor", "tput x floor", "srv cpu %", "client cpu %", "other cpu %", "store reads", "writes (calls/keys)"];
  process.stdout.write(`\n${table(header, rows)}\n\n`);
  for (const [name, t] of Object.entries(targets)) process.stdout.write(`${t.met ? "MET " : "MISS"}  ${name}: ${t.detail}\n`);
  if (metricsCost) process.stdout.write(`metrics cost (api_key, metrics on vs off): cpu ${metricsCost.cpu_percent}%, throughput ${metricsCost.throughput_percent}%\n`);
  for (const [name, why] of Object.entries(skipped)) process.stdout.write(`SKIPPED ${name}: ${why}\n`);
  for (const c of checks) process.stdout.write(`WARNING ${c}\n`);
  out._meta = {
    machine: machine(),
    warmup_ms: WARMUP_MS,
    measure_ms: MEASURE_MS,
    concurrency: CONCURRENCY,
    cache_ttl_ms: CACHE_TTL_MS,
    last_used_flush_ms: FLUSH_MS,
    distinct_tokens: DISTINCT,
    targets,
    metrics_cost: metricsCost ?? null,
    skipped,
    warnings: checks,
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
