import * as http2 from "node:http2";
import { describe, expect, it } from "vitest";
import { createMemoryTokenStore } from "../../src/adapters/memory/memory-token-store.js";
import type { StoreChange, StoreChangeFeed } from "../../src/ports/store-changes.js";
import { sleep, waitUntil } from "../support/poll.js";
import { metricsText, samples } from "../support/probes.js";
import { connectFrom, envelope } from "../support/stream-flood.js";
import { useTestApp } from "../support/test-app.js";
import { gc, liveObjects } from "../support/heap-objects.js";
import { watchGrpc } from "../support/watch-client.js";

/**
 * Watchers that never read (their flow-control window full, then the server's write buffer): each
 * is hung up on (RST_STREAM CANCEL, logged RESOURCE_EXHAUSTED) once it falls more than
 * WATCH_REPLAY_BUFFER behind, its place in WATCH_MAX_WATCHERS is free again, and what it held is
 * released: a heap snapshot of this process (the service runs in it) holds N of each per-watch
 * object while they are stalled (the direct path's DirectWatch and DirectCall, the hub's cursor, Node's
 * stream) and none once they are gone; the JS heap returns to its baseline.
 */
const heap = async () => {
  for (let i = 0; i < 3; i++) {
    gc();
    await sleep(50);
  }
  return process.memoryUsage().heapUsed;
};

const PER_WATCH = ["DirectWatch", "DirectCall", "Pushed", "ServerHttp2Stream"];

const WATCH = "/warpflow.auth.v1.TokenService/WatchInvalidations";
const N = 100;

describe("never-reading watchers", () => {
  const listeners = new Set<(c: StoreChange) => void>();
  const feed: StoreChangeFeed = {
    subscribe: (l) => (listeners.add(l), () => listeners.delete(l)),
    status: () => ({ state: "live", reopenings: 0 }),
  };
  const t = useTestApp({
    store: createMemoryTokenStore(),
    changes: feed,
    env: { WATCH_REPLAY_BUFFER: "2000", WATCH_MAX_WATCHERS: String(N + 1), MAX_OPEN_STREAMS_PER_ADDRESS: "1000" },
    logLevel: "info",
  });
  const watchers = async () => samples(await metricsText(t.baseUrl), "warpflow_watchers")[0];

  it(`${N} stalled watches are each reset (CANCEL), logged RESOURCE_EXHAUSTED, their places freed and their memory released`, {
    timeout: 90_000,
  }, async () => {
    // Long tenant ids: each invalidation ~300 bytes, so a stalled stream's window and write buffer fill fast.
    const change = (i: number) => ({ kind: "policy" as const, tenantId: `t${i}-${"x".repeat(256)}` });
    // The replay buffer full first, each event with its message and frame (made once for every
    // watcher, kept as long as the event is replayable): the baseline holds them, so what follows
    // measures what the watches hold.
    let sent = 0;
    const reader = watchGrpc(t.address);
    await reader.until((m) => m.event.case === "heartbeat", 5000, "the reader's start");
    while (sent < 2500) {
      for (let i = 0; i < 50; i++, sent++) for (const l of listeners) l(change(sent));
      await sleep(5); // a reading watch keeps up (one burst past the buffer would evict it too)
    }
    const last = change(sent - 1).tenantId;
    await reader.until(
      (m) => m.event.case === "invalidation" && m.event.value.tenantId === last,
      20_000,
      "every prefill change read",
    );
    reader.cancel();
    await waitUntil(async () => (await watchers()) === 0, 5000, "the reader gone");
    const base = await heap();
    const sessions = [0, 1, 2, 3].map(() => connectFrom(t.port));
    const codes: (number | undefined)[] = [];
    const streams = Array.from({ length: N }, (_, i) => {
      const s = sessions[i % sessions.length]!.request({
        ":method": "POST",
        ":path": WATCH,
        "content-type": "application/grpc",
        te: "trailers",
      });
      s.end(envelope(Buffer.alloc(0)));
      s.on("close", () => (codes[i] = s.rstCode));
      s.on("error", () => {});
      return s;
    });
    await Promise.all(streams.map((s) => new Promise((resolve) => s.once("response", resolve))));
    for (const s of streams) s.pause(); // never read again
    await waitUntil(async () => (await watchers()) === N, 5000, `${N} watchers`);

    // Enough changes to fill every window (64 KiB) and write buffer, but fewer than the replay buffer.
    for (const end = sent + 1000; sent < end; sent++) for (const l of listeners) l(change(sent));
    await sleep(300);
    const stalled = await heap();
    const held = liveObjects(PER_WATCH);
    expect(codes.filter((c) => c !== undefined)).toEqual([]); // still open: not yet behind the buffer

    // Past the replay buffer: each is evicted and reset.
    for (let burst = 0; burst < 200 && codes.filter((c) => c !== undefined).length < N; burst++) {
      for (let i = 0; i < 50; i++) for (const l of listeners) l(change(sent++));
      await sleep(10);
    }
    await waitUntil(() => codes.filter((c) => c !== undefined).length === N, 30_000, "every stalled stream reset");
    expect(new Set(codes)).toEqual(new Set([http2.constants.NGHTTP2_CANCEL]));
    await waitUntil(async () => (await watchers()) === 0, 5000, "no watcher left");
    const lines = t.logs.filter((l) => l.includes('"rpc":"WatchInvalidations"') && !l.includes('"code":"canceled"'));
    expect(
      lines.filter((l) => l.includes('"code":"resource_exhausted"') && l.includes("watcher too slow")),
    ).toHaveLength(N);
    expect(lines).toHaveLength(N);

    for (const s of sessions) s.destroy();
    await sleep(300);
    const after = await heap();
    const released = liveObjects(PER_WATCH);
    const mib = (n: number) => (n / 2 ** 20).toFixed(2);
    console.log(
      `JS heap: base ${mib(base)} MiB, ${N} stalled +${mib(stalled - base)} MiB, after the resets +${mib(after - base)} MiB; ` +
        `objects while stalled ${JSON.stringify(held)}, after ${JSON.stringify(released)}`,
    );
    expect(held).toEqual(Object.fromEntries(PER_WATCH.map((n) => [n, N])));
    expect(released).toEqual(Object.fromEntries(PER_WATCH.map((n) => [n, 0])));
    expect(after - base).toBeLessThan(2 ** 20); // GC noise

    // Every place is free again: N + 1 watches may open.
    const again = [0, 1, 2, 3].map(() => connectFrom(t.port));
    try {
      const fresh = Array.from({ length: N + 1 }, (_, i) => {
        const s = again[i % again.length]!.request({
          ":method": "POST",
          ":path": WATCH,
          "content-type": "application/grpc",
          te: "trailers",
        });
        s.end(envelope(Buffer.alloc(0)));
        s.on("error", () => {});
        return new Promise<string>((resolve) => {
          s.once("data", () => resolve("open"));
          s.once("trailers", (h) => resolve(String(h["grpc-status"])));
          s.once("response", (h) => h["grpc-status"] !== undefined && resolve(String(h["grpc-status"])));
        });
      });
      expect(new Set(await Promise.all(fresh))).toEqual(new Set(["open"]));
    } finally {
      for (const s of again) s.destroy();
    }
  });
});
