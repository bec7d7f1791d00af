/**
 * Two builds of the client side by side in one process against a real server (the bench's service
 * in its own process): the same 20,300 tokens (300 keys, 20,000 unknown) cached in each through the
 * real gRPC channel, one token at a time in turn, so both caches' entries sit among the calls' gRPC
 * garbage as in `npm run bench:client`; then alternated rounds (the order flips every round) of
 * `peek` and of the awaited `introspect` on each, caller CPU per call (µs), median (min-max).
 * A: A_CLIENT, B: OLD_CLIENT (each a build's dist/bench/src/client/index.js, absolute; best each in
 * a worktree with its own node_modules, so neither shares lru-cache's compiled code with the other);
 * either defaults to this tree's build (both unset: the A/A spread). The fill alternates which
 * client caches a token first; swap A and B between runs to cancel what position still adds.
 * Run (tsc build, as the bench runs the client):
 *   npx tsc -p bench/tsconfig.json
 *   OLD_CLIENT=/abs/old/dist/bench/src/client/index.js node dist/bench/bench/tools/client-peek-ab.js
 * Knobs: AB_ROUNDS (8), AB_CALLS (1000000 per round and client), AB_FILL (20000), AB_FLOOR=1 (also
 * the floor: cacheKeyOf + an lru-cache get on a cache filled in a tight loop, this tree's lru-cache).
 */
import { LRUCache } from "lru-cache";
import { cacheKeyOf } from "../../src/client/cache-key.js";
import { generateToken } from "../../src/domain/token-format.js";
import type { createTokenClient, TokenClient } from "../../src/client/index.js";
import { clientServiceEnv, createKeys } from "../client/run-client.js";
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Service } from "../lib/harness.js";
import { stopAll } from "../lib/harness.js";
import { nextMessage } from "../lib/proc.js";

const env = process.env;
const ROUNDS = Number(env.AB_ROUNDS ?? 8);
const CALLS = Number(env.AB_CALLS ?? 1_000_000);
const cpuUs = () => {
  const c = process.cpuUsage();
  return c.user + c.system;
};
const yieldLoop = () => new Promise<void>((r) => setImmediate(r));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[(xs.length - 1) >> 1]!;
const fmt = (xs: number[]) => `${median(xs).toFixed(3)} (${Math.min(...xs).toFixed(3)}-${Math.max(...xs).toFixed(3)})`;

/** The compiled service next to this compiled file (bench/lib's forkTs resolves from the source tree). */
async function startService(env: Record<string, string>): Promise<Service> {
  const child = fork(fileURLToPath(new URL("../service-entry.js", import.meta.url)), [], {
    execArgv: ["--expose-gc"],
    env: { ...process.env, HOST: "127.0.0.1", PORT: "0", ...env },
    stdio: ["ignore", "ignore", "ignore", "ipc"],
  });
  const ready = await nextMessage<Omit<Service, "child" | "address">>(child, "ready", 120_000);
  return { ...ready, child, address: `127.0.0.1:${ready.port}` };
}

async function untilHealthy(c: TokenClient): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!c.state().healthy) {
    if (Date.now() > deadline) throw new Error("client not healthy (no complete heartbeat)");
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function peekRound(c: TokenClient, tokens: string[]): Promise<number> {
  await untilHealthy(c);
  const hits0 = c.state().hits;
  const c0 = cpuUs();
  for (let i = 0; i < CALLS; i++) {
    c.peek(tokens[i % tokens.length]!);
    if ((i & 4095) === 4095) await yieldLoop(); // heartbeats get in
  }
  const us = (cpuUs() - c0) / CALLS;
  notHits += CALLS - (c.state().hits - hits0);
  return us;
}

async function awaitedRound(c: TokenClient, tokens: string[]): Promise<number> {
  await untilHealthy(c);
  const hits0 = c.state().hits;
  const c0 = cpuUs();
  for (let i = 0; i < CALLS; i++) {
    await c.introspect(tokens[i % tokens.length]!);
    if ((i & 4095) === 4095) await yieldLoop();
  }
  const us = (cpuUs() - c0) / CALLS;
  notHits += CALLS - (c.state().hits - hits0);
  return us;
}

let notHits = 0;

/** The floor: the key (cacheKeyOf) and an lru-cache get alone, on a cache filled in a tight loop. */
function floorRound(lru: LRUCache<string, object>, tokens: string[]): number {
  let n = 0;
  const c0 = cpuUs();
  for (let i = 0; i < CALLS; i++) if (lru.get(cacheKeyOf(tokens[i % tokens.length]!))) n++;
  const us = (cpuUs() - c0) / CALLS;
  notHits += CALLS - n;
  return us;
}

async function main() {
  const own = fileURLToPath(new URL("../../src/client/index.js", import.meta.url));
  const load = async (path: string | undefined) =>
    ((await import(path ?? own)) as { createTokenClient: typeof createTokenClient }).createTokenClient;
  const [newer, old] = [await load(env.A_CLIENT), await load(env.OLD_CLIENT)];
  const service = await startService(clientServiceEnv());
  try {
    const keys = await createKeys(service, 300);
    const tokens = [
      ...keys.map((k) => k.token),
      ...Array.from({ length: Number(env.AB_FILL ?? 20_000) }, () => generateToken("api_key", "fill")),
    ];
    const a = newer({ address: service.address, deadlineMs: 30_000 });
    const b = old({ address: service.address, deadlineMs: 30_000 });
    await Promise.all([untilHealthy(a), untilHealthy(b)]);
    for (const [i, t] of tokens.entries()) {
      for (const c of i % 2 ? [a, b] : [b, a]) await c.introspect(t);
    }
    const floor = new LRUCache<string, object>({ max: 100_000, dispose: () => {} });
    if (env.AB_FLOOR === "1") for (const t of tokens) floor.set(cacheKeyOf(t), { t: 1 });
    const out = {
      floor: [] as number[],
      a_peek: [] as number[],
      b_peek: [] as number[],
      a_awaited: [] as number[],
      b_awaited: [] as number[],
    };
    for (let r = 0; r <= ROUNDS; r++) {
      const order = r % 2 ? ([a, b] as const) : ([b, a] as const);
      const res = new Map<TokenClient, { peek: number; awaited: number }>();
      for (const c of order) res.set(c, { peek: await peekRound(c, tokens), awaited: 0 });
      for (const c of order) res.get(c)!.awaited = await awaitedRound(c, tokens);
      const fl = env.AB_FLOOR === "1" ? floorRound(floor, tokens) : NaN;
      if (r === 0) continue; // warm-up
      if (env.AB_FLOOR === "1") out.floor.push(fl);
      out.a_peek.push(res.get(a)!.peek);
      out.b_peek.push(res.get(b)!.peek);
      out.a_awaited.push(res.get(a)!.awaited);
      out.b_awaited.push(res.get(b)!.awaited);
      console.log(
        `round ${r}: floor ${fl.toFixed(3)} µs; peek A ${res.get(a)!.peek.toFixed(3)} B ${res.get(b)!.peek.toFixed(3)} µs; awaited A ${res.get(a)!.awaited.toFixed(3)} B ${res.get(b)!.awaited.toFixed(3)} µs`,
      );
    }
    a.close();
    b.close();
    console.log(
      `A = ${env.A_CLIENT ?? own}; B = ${env.OLD_CLIENT ?? own}; ${tokens.length} cached tokens, ${CALLS} calls per round`,
    );
    if (out.floor.length)
      console.log(`floor    ${fmt(out.floor)} µs (cacheKeyOf + lru get, cache filled in a tight loop)`);
    console.log(`peek     A ${fmt(out.a_peek)}  B ${fmt(out.b_peek)} µs`);
    console.log(`awaited  A ${fmt(out.a_awaited)}  B ${fmt(out.b_awaited)} µs`);
    console.log(`calls not answered from cache: ${notHits}`);
    console.log(JSON.stringify({ rounds: ROUNDS, calls: CALLS, entries: tokens.length, notHits, ...out }));
  } finally {
    await stopAll([service.child]);
  }
}
main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
