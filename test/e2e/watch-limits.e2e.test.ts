import * as http2 from "node:http2";
import * as grpc from "@grpc/grpc-js";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterEach, describe, expect, it } from "vitest";
import { createMemoryTokenStore } from "../../src/adapters/memory/memory-token-store.js";
import { ResetReason } from "../../src/gen/warpflow/auth/v1/token_service_pb.js";
import type { StoreChange, StoreChangeFeed } from "../../src/ports/store-changes.js";
import { createTestPki, hasOpenssl, type TestPki } from "../support/certs.js";
import { pollUntil, sleep, waitUntil } from "../support/poll.js";
import { connectFrom, envelope } from "../support/stream-flood.js";
import { startTestApp, useTestApp } from "../support/test-app.js";
import { watchConnect, watchGrpc, type Watch } from "../support/watch-client.js";

const WATCH = "/warpflow.auth.v1.TokenService/WatchInvalidations";
const open: Watch[] = [];
afterEach(() => open.splice(0).forEach((w) => w.cancel()));
const track = (w: Watch) => (open.push(w), w);
const started = (w: Watch) => w.until((m) => m.event.case === "heartbeat", 5000, "first heartbeat");
const RESOURCE_EXHAUSTED = 8;
const UNAUTHENTICATED = 16;

describe("caller restrictions: the same as Introspect (INTROSPECT_CALLER_TOKEN)", () => {
  const t = useTestApp({
    env: { INTROSPECT_CALLER_TOKEN: "caller-secret-0123456789abcdefghijklmnop" },
    logLevel: "warn",
  });

  it("without the caller credential, or with a wrong one, the stream is UNAUTHENTICATED on every protocol", async () => {
    for (const md of [undefined, { "x-warpflow-caller-token": "wrong" }]) {
      const g = track(watchGrpc(t.address, { metadata: md }));
      expect(await g.end()).toMatchObject({ code: UNAUTHENTICATED });
      expect(g.messages).toEqual([]);
      const c = track(
        watchConnect(createConnectTransport({ baseUrl: t.baseUrl, httpVersion: "1.1" }), { metadata: md }),
      );
      expect(await c.end()).toMatchObject({ code: UNAUTHENTICATED });
    }
    expect(t.logs.join("\n")).not.toContain("caller-secret-0123456789abcdefghijklmnop");
  });

  it("with it, the stream starts", async () => {
    const md = { "x-warpflow-caller-token": "caller-secret-0123456789abcdefghijklmnop" };
    await started(track(watchGrpc(t.address, { metadata: md })));
    await started(
      track(watchConnect(createConnectTransport({ baseUrl: t.baseUrl, httpVersion: "2" }), { metadata: md })),
    );
  });
});

describe("WATCH_MAX_WATCHERS and the per-address bound (MAX_OPEN_STREAMS_PER_ADDRESS)", () => {
  const t = useTestApp({ env: { WATCH_MAX_WATCHERS: "3", MAX_OPEN_STREAMS_PER_ADDRESS: "2" }, logLevel: "warn" });

  /** A watch from `localAddress` over Node's own HTTP/2 client: answers its first gRPC status or "open". */
  async function rawWatch(localAddress: string): Promise<{ status: string; close(): void }> {
    const session = connectFrom(t.port, localAddress);
    const req = session.request({
      ":method": "POST",
      ":path": WATCH,
      "content-type": "application/grpc",
      te: "trailers",
    });
    req.end(envelope(Buffer.alloc(0)));
    const status = await new Promise<string>((resolve) => {
      req.on("response", (h) => h["grpc-status"] !== undefined && resolve(String(h["grpc-status"])));
      req.on("trailers", (h) => resolve(String(h["grpc-status"])));
      req.on("data", () => resolve("open"));
      req.on("error", () => resolve("error"));
    });
    return { status, close: () => session.destroy() };
  }

  it("a third watch from one address is RESOURCE_EXHAUSTED; another address still gets one; past WATCH_MAX_WATCHERS in all, every address is refused; a closed watch frees its place", async () => {
    const a = [track(watchGrpc(t.address)), track(watchGrpc(t.address))];
    for (const w of a) await started(w);
    const third = track(watchGrpc(t.address));
    expect(await third.end()).toMatchObject({ code: RESOURCE_EXHAUSTED });
    expect(third.ended!.details).toContain("from this address");
    const other = await rawWatch("127.0.0.2");
    expect(other.status).toBe("open"); // 3 open in all now
    const fourth = await rawWatch("127.0.0.3");
    expect(fourth.status).toBe(String(RESOURCE_EXHAUSTED));
    fourth.close();
    a[0]!.cancel();
    await waitUntil(
      async () => {
        const retry = await rawWatch("127.0.0.3");
        retry.close();
        return retry.status === "open";
      },
      5000,
      "a place freed by a cancelled watch",
    );
    other.close();
  });

  it("the watch bound is its own: health Watch calls are not refused while watchers are full", async () => {
    for (let i = 0; i < 2; i++) await started(track(watchGrpc(t.address)));
    const health = await new Promise<string>((resolve) => {
      const session = connectFrom(t.port, "127.0.0.4");
      const req = session.request({
        ":method": "POST",
        ":path": "/grpc.health.v1.Health/Watch",
        "content-type": "application/grpc",
        te: "trailers",
      });
      req.end(envelope(Buffer.alloc(0)));
      req.on("data", () => {
        resolve("open");
        session.destroy();
      });
      req.on("trailers", (h) => resolve(String(h["grpc-status"])));
    });
    expect(health).toBe("open");
  });
});

describe("a slow reader is disconnected, not buffered without bound", () => {
  const listeners = new Set<(c: StoreChange) => void>();
  const feed: StoreChangeFeed = {
    subscribe: (l) => (listeners.add(l), () => listeners.delete(l)),
    status: () => ({ state: "live", reopenings: 0 }),
  };
  const t = useTestApp({
    store: createMemoryTokenStore(),
    changes: feed,
    env: { WATCH_REPLAY_BUFFER: "1000", WATCH_MAX_WATCHERS: "2" },
    logLevel: "warn",
  });

  it("a watch that stops reading is reset once it is more than WATCH_REPLAY_BUFFER behind; a reading one keeps going; the place is free again", {
    timeout: 60_000,
  }, async () => {
    const session = connectFrom(t.port);
    const stalled = session.request({
      ":method": "POST",
      ":path": WATCH,
      "content-type": "application/grpc",
      te: "trailers",
    });
    stalled.end(envelope(Buffer.alloc(0)));
    await new Promise((resolve) => stalled.once("response", resolve));
    stalled.pause(); // never reads again: its flow-control window fills
    const reading = track(watchGrpc(t.address));
    await started(reading);
    let closedWith: number | undefined;
    stalled.on("close", () => (closedWith = stalled.rstCode));
    // Changes from "other instances", in small bursts (a reader that keeps up is never 200 behind).
    let sent = 0;
    for (let burst = 0; burst < 2000 && closedWith === undefined; burst++) {
      for (let i = 0; i < 10; i++) for (const l of listeners) l({ kind: "policy", tenantId: `t${sent++}` });
      await sleep(10);
    }
    await waitUntil(() => closedWith !== undefined, 30_000, "the slow reader's stream reset");
    console.log(`slow reader reset after ${sent} invalidations`);
    expect(closedWith).toBe(http2.constants.NGHTTP2_CANCEL);
    expect(sent).toBeLessThan(20_000);
    // The reading watcher got every change, in order, and is still open.
    const last = `t${sent - 1}`;
    const ok = await pollUntil(
      () => reading.messages.some((m) => m.event.case === "invalidation" && m.event.value.tenantId === last),
      10_000,
    );
    expect(
      ok,
      JSON.stringify(
        { sent, got: reading.messages.length, ended: reading.ended, tail: reading.messages.at(-1) },
        (_, v) => (typeof v === "bigint" ? String(v) : v),
      ),
    ).toBe(true);
    expect(reading.ended).toBeUndefined();
    expect(reading.messages.filter((m) => m.event.case === "reset").map((m) => m.event.value)).toEqual([
      expect.objectContaining({ reason: ResetReason.START }),
    ]);
    // Its place is free again (WATCH_MAX_WATCHERS 2: the reader and a new one).
    await started(track(watchGrpc(t.address)));
    session.destroy();
  });
});

describe("shutdown and logs", () => {
  it("open watches end with OK at shutdown (they do not hold the drain); each watch has one rpc log line", async () => {
    const app = await startTestApp({ env: { SHUTDOWN_TIMEOUT_MS: "10000" }, logLevel: "info" });
    const w = watchGrpc(app.address);
    const c = watchConnect(createConnectTransport({ baseUrl: app.baseUrl, httpVersion: "1.1" }));
    await started(w);
    await started(c);
    const cancelled = watchGrpc(app.address);
    await started(cancelled);
    cancelled.cancel();
    const rpcLines = () =>
      app.logs
        .map((l) => JSON.parse(l) as { rpc?: string; code?: string })
        .filter((l) => l.rpc === "WatchInvalidations");
    await waitUntil(() => rpcLines().length === 1, 5000, "the cancelled watch's log line");
    const t0 = Date.now();
    await app.close();
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(await w.end()).toMatchObject({ code: 0 });
    expect(await c.end()).toMatchObject({ code: 0 });
    expect(rpcLines().map((l) => l.code)).toEqual(["canceled", "ok", "ok"]);
  });
});

describe.skipIf(!hasOpenssl())("caller restrictions: INTROSPECT_REQUIRE_CLIENT_CERT", () => {
  let pki: TestPki;
  const callerToken = "w".repeat(40);
  const t = useTestApp(() => {
    pki = createTestPki();
    return {
      logLevel: "warn",
      env: {
        TLS_CERT_FILE: pki.serverCertFile,
        TLS_KEY_FILE: pki.serverKeyFile,
        TLS_CLIENT_CA_FILE: pki.caFile,
        TLS_CLIENT_CERT_OPTIONAL: "true",
        INTROSPECT_REQUIRE_CLIENT_CERT: "true",
        INTROSPECT_CALLER_TOKEN: callerToken,
      },
    };
  });

  it("a watch needs a verified client certificate and the caller credential, as Introspect", async () => {
    const address = `localhost:${t.port}`;
    const withCert = new grpc.Client(address, grpc.credentials.createSsl(pki.ca, pki.clientKey, pki.clientCert));
    const noCert = new grpc.Client(address, grpc.credentials.createSsl(pki.ca));
    try {
      const md = { "x-warpflow-caller-token": callerToken };
      await started(track(watchGrpc(address, { metadata: md }, withCert)));
      expect(await track(watchGrpc(address, {}, withCert)).end()).toMatchObject({ code: UNAUTHENTICATED });
      const refused = track(watchGrpc(address, { metadata: md }, noCert));
      expect(await refused.end()).toMatchObject({ code: UNAUTHENTICATED });
      expect(refused.ended!.details).toContain("client certificate");
    } finally {
      open.splice(0).forEach((w) => w.cancel());
      withCert.close();
      noCert.close();
    }
  });
});
