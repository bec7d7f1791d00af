/**
 * What one open WatchInvalidations stream costs in OUR layers (JS heap, bytes per watcher): the
 * hub's watcher, the service handler, and the stream bound of the transport (stream-limit.ts),
 * each parked as a real stream is between messages (an AbortController with the hub's abort
 * listener included), and the pushed form the direct gRPC path uses (session 33). The rest of a watcher's ~9-10 KB RSS (bench `watchers`) is grpc-js, Node's
 * HTTP/2 stream and nghttp2. Run: `node --expose-gc --import tsx bench/tools/watcher-memory.ts`.
 */
import { create } from "@bufbuild/protobuf";
import { createInvalidationHub } from "../../src/domain/invalidation-hub.js";
import { WatchInvalidationsRequestSchema } from "../../src/gen/warpflow/auth/v1/token_service_pb.js";
import { createWatchHandlers } from "../../src/service/watch-invalidations.js";
import { limitStreamHandlers } from "../../src/transport/builtin/stream-limit.js";
import type { StreamCallContext } from "../../src/transport/protocol/stream-handlers.js";
import { PUSH_STREAMS, type PushCallContext, type StreamSink } from "../../src/transport/protocol/push-streams.js";

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with node --expose-gc");
const heap = () => {
  for (let i = 0; i < 4; i++) gc();
  return process.memoryUsage().heapUsed;
};
const N = 5000;
const hub = createInvalidationHub({
  clock: { now: () => new Date() },
  heartbeatMs: 60_000,
  replayBuffer: 16,
  complete: () => true,
});
const handlers = createWatchHandlers({ hub });
const limited = limitStreamHandlers(handlers, { max: 1e6, maxPerAddress: 0 }, "watchers");
const req = create(WatchInvalidationsRequestSchema, {});
const send = () => true;
const evicted = () => {};
const end = () => {};

async function main() {
  const keep: unknown[] = [];
  for (const [name, h] of [
    ["hub + handler", handlers],
    ["hub + handler + stream bound", limited],
  ] as const) {
    const h0 = heap();
    for (let i = 0; i < N; i++) {
      const ac = new AbortController();
      const ctx = { signal: ac.signal, hangUp() {}, bearer: undefined, peer: "10.0.0.1:1" } as StreamCallContext;
      const it = h.watchInvalidations!(req, ctx)[Symbol.asyncIterator]();
      await it.next(); // START reset
      await it.next(); // first heartbeat
      keep.push(ac, it, it.next()); // parked, as between messages
    }
    console.log(`${name}: ${Math.round((heap() - h0) / N)} bytes per watcher`);
  }
  // The pushed form (the direct gRPC path since session 33): the hub's cursor and the stream
  // bound's place; the context and sink are one transport object (here a plain one of the same size).
  for (const [name, h] of [
    ["pushed: hub + handler", handlers],
    ["pushed: hub + handler + stream bound", limited],
  ] as const) {
    const h0 = heap();
    for (let i = 0; i < N; i++) {
      const sink: StreamSink<unknown> & PushCallContext = { bearer: undefined, peer: "10.0.0.1:1", send, evicted, end };
      keep.push(sink, h[PUSH_STREAMS]!.watchInvalidations!(req, sink, sink));
    }
    console.log(`${name}: ${Math.round((heap() - h0) / N)} bytes per watcher (the stand-in sink included)`);
  }
  hub.close();
}
void main();
