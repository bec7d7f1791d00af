/**
 * Bench child (plain node on tsc output, like production): token clients in their own process.
 * - "cached": CPU per introspect answered from cache (hashing included) in rounds, awaited and
 *   through the synchronous `peek` alternately in each round, and the floor (the same tokens' SHA-256
 *   key and an lru-cache get, nothing else) in the same round, then the same
 *   call over gRPC from this process (grpc-js, the client's channel; and connect-node's gRPC
 *   transport, for the choice of library) at 1 and 64 in flight: the caller's CPU per call.
 * - "prop:*": N clients, each caching one token; after "prop:watch", every client looks the token
 *   up in a loop until it answers inactive and reports the time (epoch ms, sub-ms) it first did.
 */
import { performance } from "node:perf_hooks";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { LRUCache } from "lru-cache";
import { cacheKeyOf } from "../../src/client/cache-key.js";
import { createTokenClient, type TokenClient } from "../../src/client/index.js";
import { createTokenChannel } from "../../src/client/grpc-channel.js";
import { TokenService } from "../../src/gen/warpflow/auth/v1/token_service_pb.js";

const send = (m: Record<string, unknown>) => process.send!(m);
const yieldLoop = () => new Promise<void>((r) => setImmediate(r));
const cpuUs = () => {
  const c = process.cpuUsage();
  return c.user + c.system;
};
const epochMs = () => performance.timeOrigin + performance.now();

async function untilHealthy(clients: TokenClient[], ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!clients.every((c) => c.state().healthy)) {
    if (Date.now() > deadline) throw new Error("clients not healthy (no complete heartbeat)");
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function cached(m: {
  address: string;
  tokens: string[];
  hot: number;
  rounds: number;
  calls: number;
  grpcMs: number;
}) {
  const client = createTokenClient({ address: m.address, deadlineMs: 30_000 });
  await untilHealthy([client]);
  for (const t of m.tokens) await client.introspect(t);
  const tokens = m.tokens;
  // The floor of a cached lookup, as the issue counts it: the client's own SHA-256 key of the token
  // and an lru-cache get, the same tokens in an LRU of the client's default bound, in this process.
  const floorCache = new LRUCache<string, object>({ max: 100_000 });
  for (const t of tokens) floorCache.set(cacheKeyOf(t), {});
  const cachedUs: number[] = [];
  const peekUs: number[] = [];
  const floorUs: number[] = [];
  const peekHotUs: number[] = [];
  const floorHotUs: number[] = [];
  let notHits = 0;
  for (let r = 0; r < m.rounds + 1; r++) {
    await untilHealthy([client]);
    const hits0 = client.state().hits;
    const c0 = cpuUs();
    for (let i = 0; i < m.calls; i++) {
      await client.introspect(tokens[i % tokens.length]!);
      if ((i & 4095) === 4095) await yieldLoop(); // heartbeats get in
    }
    const perCall = (cpuUs() - c0) / m.calls;
    notHits += m.calls - (client.state().hits - hits0); // a heartbeat late on a busy machine: a call went out
    if (r > 0) cachedUs.push(perCall); // round 0 warms up
    // The synchronous path (peek, for middleware) in the same round, same tokens and calls
    // (BENCH_CLIENT_PEEK=0: skipped, to measure a client from before peek existed).
    if (process.env.BENCH_CLIENT_PEEK === "0") continue;
    await untilHealthy([client]);
    const peekHits0 = client.state().hits;
    const p0 = cpuUs();
    for (let i = 0; i < m.calls; i++) {
      if (client.peek(tokens[i % tokens.length]!) === undefined) notHits++;
      if ((i & 4095) === 4095) await yieldLoop();
    }
    const peekPerCall = (cpuUs() - p0) / m.calls;
    if (client.state().hits - peekHits0 > m.calls) throw new Error("peek counted more hits than calls");
    if (r > 0) peekUs.push(peekPerCall);
    const f0 = cpuUs();
    for (let i = 0; i < m.calls; i++) {
      if (floorCache.get(cacheKeyOf(tokens[i % tokens.length]!)) === undefined) throw new Error("floor missed");
      if ((i & 4095) === 4095) await yieldLoop();
    }
    if (r > 0) floorUs.push((cpuUs() - f0) / m.calls);
    // The same two over the hot set only (the first m.hot tokens: the bench's API keys), as a
    // service whose callers reuse a few hundred tokens sees them: entries in the CPU's caches.
    // Informative; the target is judged on the whole set above (every lookup a cold entry).
    const h0 = cpuUs();
    for (let i = 0; i < m.calls; i++) {
      if (client.peek(tokens[i % m.hot]!) === undefined) notHits++;
      if ((i & 4095) === 4095) await yieldLoop();
    }
    if (r > 0) peekHotUs.push((cpuUs() - h0) / m.calls);
    const fh0 = cpuUs();
    for (let i = 0; i < m.calls; i++) {
      if (floorCache.get(cacheKeyOf(tokens[i % m.hot]!)) === undefined) throw new Error("floor missed");
      if ((i & 4095) === 4095) await yieldLoop();
    }
    if (r > 0) floorHotUs.push((cpuUs() - fh0) / m.calls);
  }
  client.close();

  const channel = createTokenChannel({ address: m.address, deadlineMs: 5000 });
  const connect = createClient(TokenService, createGrpcTransport({ baseUrl: `http://${m.address}` }));
  const viaGrpcJs = (t: string) => channel.introspect(t, "");
  const viaConnect = (t: string) => connect.introspect({ token: t });
  const over = async (call: (t: string) => Promise<unknown>, inFlight: number): Promise<number> => {
    let calls = 0;
    const c0 = cpuUs();
    const end = Date.now() + m.grpcMs;
    await Promise.all(
      Array.from({ length: inFlight }, async (_, k) => {
        for (let i = k; Date.now() < end; i += inFlight, calls++) await call(tokens[i % tokens.length]!);
      }),
    );
    return (cpuUs() - c0) / calls;
  };
  const series = {
    grpcjs_1: [] as number[],
    grpcjs_64: [] as number[],
    connect_1: [] as number[],
    connect_64: [] as number[],
  };
  await over(viaGrpcJs, 8); // warm-up
  await over(viaConnect, 8);
  for (let r = 0; r < m.rounds; r++) {
    series.grpcjs_1.push(await over(viaGrpcJs, 1));
    series.connect_1.push(await over(viaConnect, 1));
    series.grpcjs_64.push(await over(viaGrpcJs, 64));
    series.connect_64.push(await over(viaConnect, 64));
  }
  channel.close();
  send({ type: "cached:done", cachedUs, peekUs, floorUs, peekHotUs, floorHotUs, notHits: [notHits], ...series });
}

let clients: TokenClient[] = [];

async function propInit(m: { address: string; clients: number }) {
  clients = Array.from({ length: m.clients }, () => createTokenClient({ address: m.address, deadlineMs: 30_000 }));
  await untilHealthy(clients);
  send({ type: "prop:init:done" });
}

async function propCache(m: { token: string }) {
  await untilHealthy(clients);
  // Each client until it answers the token from cache (a creation's invalidation landing during the
  // first lookup keeps that answer out; a busy machine may delay a heartbeat past the bound).
  const deadline = Date.now() + 30_000;
  for (const c of clients) {
    for (;;) {
      const hits = c.state().hits;
      if (!(await c.introspect(m.token)).active) throw new Error("token not active");
      if (c.state().hits === hits + 1) break;
      if (Date.now() > deadline) throw new Error("token not answered from cache within 30 s");
      await new Promise((r) => setTimeout(r, 5));
    }
  }
  send({ type: "prop:cache:done" });
}

async function propWatch(m: { token: string; timeoutMs: number }) {
  const deadline = Date.now() + m.timeoutMs;
  send({ type: "prop:watch:done" }); // looping from now on
  // Each client on its own loop: a cached answer costs a microsecond, so a client polls its cache
  // once per event-loop turn; once the invalidation dropped the entry, the next lookup asks the
  // server, and the time its inactive answer arrives is that client's figure.
  // Also when each client's cache dropped the entry (the invalidation arrived), before the server call,
  // or, for a revoke (a cached REVOKED answer, no drop), when it first answered inactive.
  const dropped: (number | null)[] = clients.map(() => null);
  const at = await Promise.all(
    clients.map(async (c, i) => {
      let size = c.state().cacheSize;
      while (Date.now() < deadline) {
        // The entry left the cache (the invalidation was applied) at most one loop turn ago.
        const now = c.state().cacheSize;
        if (dropped[i] === null && now < size) dropped[i] = epochMs();
        size = now;
        const r = await c.introspect(m.token).catch(() => undefined);
        if (r && !r.active) {
          // A revoke now turns the entry into a cached inactive answer (the cache does not shrink).
          const t = epochMs();
          if (dropped[i] === null) dropped[i] = t;
          return t;
        }
        await yieldLoop();
      }
      return null;
    }),
  );
  send({ type: "prop:result", at, dropped });
}

process.on("message", (msg: { type: string }) => {
  // IPC messages, shaped by run-client.ts
  const m = msg as { type: string } & Parameters<typeof cached>[0] &
    Parameters<typeof propInit>[0] &
    Parameters<typeof propWatch>[0];
  const run =
    m.type === "cached"
      ? cached(m)
      : m.type === "prop:init"
        ? propInit(m)
        : m.type === "prop:cache"
          ? propCache(m)
          : m.type === "prop:watch"
            ? propWatch(m)
            : m.type === "shutdown"
              ? Promise.resolve(process.exit(0))
              : Promise.resolve();
  run.catch((e: unknown) => send({ type: "error", message: e instanceof Error ? e.message : String(e) }));
});
send({ type: "ready" });
