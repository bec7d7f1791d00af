// WatchInvalidations' caller policy (service/watch-policy.ts): refused in production unless a
// caller restriction is configured or WATCH_ALLOW_OPEN=true; open outside production, with one
// warning at start. On every protocol the service serves.
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { createGrpcTokenClient } from "../support/grpc-client.js";
import { useTestApp, type TestApp } from "../support/test-app.js";
import { watchConnect, watchGrpc, type Watch, type WatchOptions } from "../support/watch-client.js";

const PERMISSION_DENIED = 7;
const UNAUTHENTICATED = 16;
const open: Watch[] = [];
afterEach(() => open.splice(0).forEach((w) => w.cancel()));
const track = (w: Watch) => (open.push(w), w);
const started = (w: Watch) => w.until((m) => m.event.case === "heartbeat", 5000, "first heartbeat");
/** NODE_ENV=production needs a store chosen by name (or MONGODB_URI, which the test app passes on). */
const production = { NODE_ENV: "production", ...(process.env.MONGODB_URI ? {} : { STORE: "memory" }) };
const openWarnings = (t: TestApp) => t.logs.filter((l) => l.includes('"event":"watch_open"'));

const transports = (t: TestApp, opts?: WatchOptions) =>
  [
    ["gRPC (grpc-js)", () => watchGrpc(t.address, opts)],
    ["Connect HTTP/1.1", () => watchConnect(createConnectTransport({ baseUrl: t.baseUrl, httpVersion: "1.1" }), opts)],
    ["Connect HTTP/2", () => watchConnect(createConnectTransport({ baseUrl: t.baseUrl, httpVersion: "2" }), opts)],
    ["gRPC-Web HTTP/1.1", () => watchConnect(createGrpcWebTransport({ baseUrl: t.baseUrl, httpVersion: "1.1" }), opts)],
    ["gRPC-Web HTTP/2", () => watchConnect(createGrpcWebTransport({ baseUrl: t.baseUrl, httpVersion: "2" }), opts)],
  ] as const;

describe("NODE_ENV=production, no caller restriction, WATCH_ALLOW_OPEN unset", () => {
  const t = useTestApp({ env: production, logLevel: "warn" });

  it("refuses every watch with PERMISSION_DENIED naming the settings, on every protocol; Introspect still answers", async () => {
    for (const [name, start] of transports(t)) {
      const w = track(start());
      const end = await w.end();
      expect({ name, code: end.code }).toEqual({ name, code: PERMISSION_DENIED });
      for (const setting of ["INTROSPECT_CALLER_TOKEN", "INTROSPECT_REQUIRE_CLIENT_CERT", "WATCH_ALLOW_OPEN"])
        expect(end.details).toContain(setting);
      expect(w.messages).toEqual([]); // no reset, no replay, no heartbeat
    }
    const client = createGrpcTokenClient(t.address);
    try {
      expect((await client.introspect({ token: "wf_acme_notatoken" })).active).toBe(false);
    } finally {
      client.close();
    }
    expect(openWarnings(t)).toEqual([]);
  });
});

describe("NODE_ENV=production with WATCH_ALLOW_OPEN=true", () => {
  const t = useTestApp({ env: { ...production, WATCH_ALLOW_OPEN: "true" }, logLevel: "warn" });

  it("serves watches to anyone and said so once at start", async () => {
    for (const [, start] of transports(t)) await started(track(start()));
    expect(openWarnings(t)).toHaveLength(1);
  });
});

describe("NODE_ENV=production with INTROSPECT_CALLER_TOKEN", () => {
  const callerToken = "caller-secret-0123456789abcdefghijklmnop";
  const t = useTestApp({ env: { ...production, INTROSPECT_CALLER_TOKEN: callerToken }, logLevel: "warn" });

  it("serves watches to callers with the credential only, and does not warn", async () => {
    for (const [, start] of transports(t, { metadata: { "x-warpflow-caller-token": callerToken } }))
      await started(track(start()));
    for (const [, start] of transports(t)) expect((await track(start()).end()).code).toBe(UNAUTHENTICATED);
    expect(openWarnings(t)).toEqual([]);
  });
});

describe("outside production (the quick start), no caller restriction", () => {
  const t = useTestApp({ logLevel: "warn" });

  it("serves watches to anyone, warning once at start (not per watch)", async () => {
    for (const [, start] of transports(t)) await started(track(start()));
    expect(openWarnings(t)).toHaveLength(1);
    expect(openWarnings(t)[0]).toContain("INTROSPECT_CALLER_TOKEN");
  });
});

describe("WATCH_ALLOW_OPEN (config)", () => {
  it("defaults to open outside production, closed in production; explicit values win; junk is a config error", () => {
    expect(loadConfig({}).watchAllowOpen).toBe(true);
    expect(loadConfig({ NODE_ENV: "production", STORE: "memory" }).watchAllowOpen).toBe(false);
    expect(loadConfig({ NODE_ENV: "production", STORE: "memory", WATCH_ALLOW_OPEN: "true" }).watchAllowOpen).toBe(true);
    expect(loadConfig({ WATCH_ALLOW_OPEN: "false" }).watchAllowOpen).toBe(false);
    expect(() => loadConfig({ WATCH_ALLOW_OPEN: "yes" })).toThrow(/^WATCH_ALLOW_OPEN: must be true, false, 1 or 0$/);
  });
});
