/**
 * Bench-only entry: the real service (createApp, memory store, real listener), run as a child of
 * the bench so its CPU and memory can be measured on their own. Talks to the bench over IPC.
 *
 * Env (besides the service's own): BENCH_PREFILL_KEYS=N seeds N API keys straight into the memory
 * store before start (3 per tenant, tenants t0, t1, ...) and reports the heap they take;
 * BENCH_PREFILL_SAMPLE=M returns M of their tokens (spread over the whole set) for the load
 * generator; BENCH_METRICS=off builds the app without metrics (to measure what metrics cost);
 * BENCH_FAST_CODEC=off serves Introspect with protobuf-es alone (to measure what the hand-written
 * codec in src/transport/grpc/introspect-codec.ts saves).
 */
import { monitorEventLoopDelay, type IntervalHistogram } from "node:perf_hooks";
import { createApp, type App } from "../src/app/app.js";
import { createLogger } from "../src/app/logger.js";
import { createMemoryTokenStore } from "../src/adapters/memory/memory-token-store.js";
import { loadConfig } from "../src/config.js";
import { MAX_ACTIVE_KEYS_PER_TENANT, newKeyId } from "../src/domain/key-rules.js";
import type { KeyRecord } from "../src/domain/records.js";
import { generateToken, tokenHint } from "../src/domain/token-format.js";
import { hashToken } from "../src/domain/token-hash.js";
import type { TokenStore } from "../src/ports/token-store.js";
import { fastCodecs } from "../src/transport/grpc/introspect-codec.js";

const send = (msg: Record<string, unknown>) => process.send!(msg);
const gc = (globalThis as { gc?: () => void }).gc;
const settle = () => {
  for (let i = 0; i < 3; i++) gc?.();
};

async function prefill(store: TokenStore, n: number, sampleSize: number) {
  settle();
  const before = process.memoryUsage();
  const started = Date.now();
  const sample: string[] = [];
  const every = Math.max(1, Math.floor(n / Math.max(1, sampleSize)));
  const createdAt = new Date();
  for (let i = 0; i < n; i++) {
    const tenantId = `t${Math.floor(i / MAX_ACTIVE_KEYS_PER_TENANT)}`;
    const token = generateToken("api_key", tenantId);
    const key: KeyRecord = {
      id: newKeyId(),
      tenantId,
      label: `bench key ${i}`,
      tokenHash: hashToken(token),
      hint: tokenHint(token, "api_key", tenantId),
      status: "active",
      createdAt: new Date(createdAt.getTime()),
      createdBy: "bench",
    };
    const r = await store.insertKey(key, MAX_ACTIVE_KEYS_PER_TENANT);
    if (!r.ok) throw new Error(`prefill: insert ${i} refused`);
    if (i % every === 0 && sample.length < sampleSize) sample.push(token);
  }
  settle();
  const after = process.memoryUsage();
  return {
    keys: n,
    seconds: (Date.now() - started) / 1000,
    heapDeltaBytes: after.heapUsed - before.heapUsed,
    rssDeltaBytes: after.rss - before.rss,
    sample,
  };
}

async function main() {
  const env = process.env;
  const logger = createLogger(env.LOG_LEVEL ?? "info");
  const metricsEnabled = env.BENCH_METRICS !== "off";
  if (env.BENCH_FAST_CODEC === "off") (fastCodecs as Map<string, unknown>).clear();
  let store: TokenStore | undefined;
  let seeded: Awaited<ReturnType<typeof prefill>> | undefined;
  const n = Number(env.BENCH_PREFILL_KEYS ?? 0);
  if (n > 0) {
    store = createMemoryTokenStore();
    seeded = await prefill(store, n, Number(env.BENCH_PREFILL_SAMPLE ?? 1000));
  }

  let app: App;
  let cognito: { enabled: boolean; error?: string };
  try {
    app = await createApp({ config: loadConfig(env), logger, store, metricsEnabled });
    cognito = { enabled: Boolean(env.COGNITO_USER_POOL_ID) };
  } catch (err) {
    if (!env.COGNITO_USER_POOL_ID) throw err;
    // The Cognito adapter may not be there yet: run without it and tell the bench why.
    cognito = { enabled: false, error: err instanceof Error ? err.message : String(err) };
    app = await createApp({ config: loadConfig({ ...env, COGNITO_USER_POOL_ID: "" }), logger, store, metricsEnabled });
  }
  await app.ready;

  // Event-loop delay over a window (bench `watchers`: does a heartbeat tick block calls?).
  let loop: IntervalHistogram | undefined;
  const onMessage = async (m: { type: string }) => {
    if (m.type === "loop:start") {
      loop?.disable();
      loop = monitorEventLoopDelay({ resolution: 1 });
      loop.enable();
      send({ type: "loop:start:done" });
    } else if (m.type === "loop:stop") {
      loop?.disable();
      const ms = (ns: number | undefined) => (ns ?? 0) / 1e6;
      send({ type: "loop:stop:done", maxMs: ms(loop?.max), p99Ms: ms(loop?.percentile(99)), meanMs: ms(loop?.mean) });
      loop = undefined;
    } else if (m.type === "memory") {
      settle();
      const u = process.memoryUsage();
      send({ type: "memory:done", rss: u.rss, heapUsed: u.heapUsed });
    } else if (m.type === "shutdown") {
      await app.close();
      process.exit(0);
    }
  };
  process.on("message", (m: { type: string }) => void onMessage(m));
  process.on("disconnect", () => process.exit(0));
  send({
    type: "ready",
    port: app.port,
    adminKey: app.bootstrapAdminKey,
    cognito,
    metricsEnabled,
    prefill: seeded && { ...seeded, sample: undefined },
    sample: seeded?.sample ?? [],
  });
}

main().catch((err) => {
  process.send?.({ type: "error", message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  process.exit(1);
});
