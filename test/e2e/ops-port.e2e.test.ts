import * as https from "node:https";
import * as net from "node:net";
import { describe, expect, it } from "vitest";
import { createTestPki, hasOpenssl, type TestPki } from "../support/certs.js";
import { pollUntil, within } from "../support/poll.js";
import { counter, metricsText, readyz } from "../support/probes.js";
import { holdRaw, rawExchange, type HeldSocket } from "../support/raw-socket.js";
import { startTestApp, useTestApp } from "../support/test-app.js";

/**
 * The ops port (OPS_PORT): a second, plain-HTTP listener serving exactly /healthz, /readyz and
 * /metrics (same meaning as on the API port, which keeps its own /healthz and /readyz); it works
 * when the API port demands client certificates, it is bounded (timeouts, header size, its own
 * connection cap) so an attack on it leaves the API port alone, and it closes on shutdown.
 * Real service, ephemeral ports.
 */
const openssl = hasOpenssl();
const get = async (port: number, path: string, init: RequestInit = {}) => {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, init);
  return { status: r.status, text: await r.text(), type: r.headers.get("content-type") };
};

describe("OPS_PORT serves the probes and only them", () => {
  const t = useTestApp({ env: { OPS_PORT: "0" } });

  it("/healthz, /readyz and /metrics, with the API port's meaning", async () => {
    const ops = t.app.opsPort!;
    expect(ops).toBeGreaterThan(0);
    expect(ops).not.toBe(t.port);
    expect(await get(ops, "/healthz")).toMatchObject({ status: 200, text: '{"status":"ok"}' });
    const [opsReady, apiReady] = [await readyz(ops), await readyz(t.port)];
    expect(opsReady).toEqual(apiReady);
    expect(opsReady).toMatchObject({ status: 200, body: { status: "serving", store: "memory", admin_key: "ok" } });
    await t.grpc.createKey({ tenantId: "acme", label: "ops" }, { bearer: t.adminKey });
    const m = await metricsText(ops);
    expect(counter(m, "warpflow_rpc_duration_seconds_count", { method: "CreateKey", code: "ok" })).toBe(1);
    expect((await get(ops, "/metrics")).type).toMatch(/^text\/plain/);
    expect((await get(ops, "/healthz?x=1", { method: "HEAD" })).status).toBe(200);
  });

  it("nothing else: the API's routes are 404 there, other methods 405; the API port keeps its probes", async () => {
    const ops = t.app.opsPort!;
    for (const path of ["/authz", "/api/v1/sessions", "/", "/metrics/x", "/grpc.health.v1.Health/Check"])
      expect((await get(ops, path)).status, path).toBe(404);
    const post = await get(ops, "/warpflow.auth.v1.TokenService/Introspect", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    expect(post.status).toBe(405);
    // Speaking HTTP/2 or gRPC to it gets nothing served.
    const h2 = await rawExchange(ops, ["PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"], 3000);
    expect(h2.data.toString("latin1")).toMatch(/^HTTP\/1\.1 400 /);
    expect((await get(t.port, "/healthz")).status).toBe(200);
    expect((await readyz(t.port)).status).toBe(200);
  });

  it("without OPS_PORT there is no second listener", async () => {
    const plain = await startTestApp();
    try {
      expect(plain.app.opsPort).toBeUndefined();
    } finally {
      await plain.close();
    }
  });
});

describe.skipIf(!openssl)("OPS_PORT beside mutual TLS on the API port", () => {
  let pki: TestPki;
  const t = useTestApp(() => {
    pki = createTestPki();
    return {
      env: {
        OPS_PORT: "0",
        TLS_CERT_FILE: pki.serverCertFile,
        TLS_KEY_FILE: pki.serverKeyFile,
        TLS_CLIENT_CA_FILE: pki.caFile,
        INTROSPECT_REQUIRE_CLIENT_CERT: "true",
      },
    };
  });

  it("kubelet-style plain probes work on the ops port while the API port refuses a client without a certificate", async () => {
    const noCert = new Promise<number>((resolve, reject) => {
      const req = https.request(
        { host: "127.0.0.1", port: t.port, path: "/readyz", servername: "localhost", ca: pki.ca },
        (res) => resolve(res.statusCode!),
      );
      req.on("error", reject);
      req.end();
    });
    await expect(noCert).rejects.toThrow();
    // Plain HTTP to the API port is not served either.
    expect((await rawExchange(t.port, ["GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n"], 3000)).data.toString()).not.toMatch(
      /^HTTP\/1\.1 200/,
    );
    const ops = t.app.opsPort!;
    expect((await get(ops, "/healthz")).status).toBe(200);
    expect(await readyz(ops)).toMatchObject({ status: 200, body: { status: "serving" } });
    expect(await metricsText(ops)).toContain("warpflow_rpc_duration_seconds");
  });
});

describe("an attack on the ops port does not hurt the API port", () => {
  const HEADERS_MS = 500;
  const t = useTestApp({
    logLevel: "warn",
    env: {
      OPS_PORT: "0",
      HTTP_HEADERS_TIMEOUT_MS: String(HEADERS_MS),
      HTTP_REQUEST_TIMEOUT_MS: "1000",
      HTTP_KEEPALIVE_TIMEOUT_MS: "300",
    },
  });

  it("half-sent requests and silent connections are closed at the headers timeout", async () => {
    const ops = t.app.opsPort!;
    const half = holdRaw(ops, "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: 1");
    const silent = holdRaw(ops, "");
    const oversized = await rawExchange(ops, [
      `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`,
    ]);
    expect(oversized.data.toString("latin1")).toMatch(/^HTTP\/1\.1 431 /);
    for (const [what, h] of [
      ["half-sent", half],
      ["silent", silent],
    ] as const) {
      const ms = await within(h.closed, HEADERS_MS + 3000, what);
      expect(ms, what).toBeGreaterThanOrEqual(HEADERS_MS - 50);
    }
    expect(half.received()).toMatch(/^HTTP\/1\.1 408 /);
  });
});

describe("a connection flood and slowloris on the ops port do not hurt the API port", () => {
  // Long enough that the flood is all in before the first slow connection is timed out.
  const HEADERS_MS = 3000;
  const t = useTestApp({
    logLevel: "warn",
    env: { OPS_PORT: "0", HTTP_HEADERS_TIMEOUT_MS: String(HEADERS_MS), HTTP_REQUEST_TIMEOUT_MS: "6000" },
  });

  it("a connection flood and slowloris on the ops port: capped there, the API port serves throughout", async () => {
    const ops = t.app.opsPort!;
    const { token } = await t.grpc.createKey({ tenantId: "acme", label: "flood" }, { bearer: t.adminKey });
    const held: HeldSocket[] = [];
    // Slowloris: a header byte every 100 ms on every connection, so none ever completes its headers...
    for (let i = 0; i < 200; i++) held.push(holdRaw(ops, "GET /healthz HTTP/1.1\r\n"));
    await Promise.all(held.map((h) => Promise.race([h.connected, h.closed])));
    const drip = setInterval(() => {
      for (const h of held) if (!h.socket.destroyed) h.socket.write("X: y\r\n");
    }, 100);
    try {
      // ... and while they are held, the API port answers every protocol as before.
      for (let i = 0; i < 20; i++) {
        expect((await readyz(t.port)).status).toBe(200);
        expect((await t.grpc.introspect({ token })).active).toBe(true);
      }
      // The ops port admitted at most its cap (64; 16 per address: every one here is 127.0.0.1):
      // the rest were closed on accept, counted apart from the API port's refusals.
      const refused = async () =>
        counter(await metricsText(t.baseUrl), "warpflow_connections_refused_total", { reason: "ops_per_address" });
      await pollUntil(async () => (await refused()) >= 200 - 16, 5000, 50);
      expect(await refused()).toBe(200 - 16);
      const m = await metricsText(t.baseUrl);
      expect(counter(m, "warpflow_connections_refused_total", { reason: "per_address" })).toBe(0);
      for (let i = 0; i < 5; i++) expect((await readyz(t.port)).status).toBe(200);
      // The slow ones are closed at the headers timeout however they drip.
      await within(Promise.all(held.map((h) => h.closed)), HEADERS_MS + 10_000, "slowloris closed");
    } finally {
      clearInterval(drip);
      for (const h of held) h.socket.destroy();
    }
    // Afterwards the ops port serves again.
    expect((await get(ops, "/healthz")).status).toBe(200);
  });
});

describe("shutdown", () => {
  it("closes the ops port with the app", async () => {
    const app = await startTestApp({ env: { OPS_PORT: "0" } });
    const ops = app.app.opsPort!;
    const idle = holdRaw(ops, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    await idle.until((d) => d.includes("\r\n\r\n"));
    await app.close();
    await within(idle.closed, 3000, "kept-alive ops connection closed");
    const refused = await new Promise<string>((resolve) => {
      const s = net.connect({ port: ops, host: "127.0.0.1" });
      s.on("connect", () => resolve("connected"));
      s.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    });
    expect(refused).toBe("ECONNREFUSED");
  });

  it("while the API port drains, the ops port says not ready (503) and still live (200)", async () => {
    const app = await startTestApp({ env: { OPS_PORT: "0", SHUTDOWN_TIMEOUT_MS: "3000" } });
    const ops = app.app.opsPort!;
    expect((await readyz(ops)).status).toBe(200);
    // An HTTP/1.1 request whose body never ends holds the drain open (until SHUTDOWN_TIMEOUT_MS).
    // Authenticated: a stranger's is answered 401 before its body is read (the caller comes first).
    const held = holdRaw(
      app.port,
      `POST /api/v1/sessions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${app.adminKey}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{`,
    );
    await held.connected;
    await pollUntil(async () => (await readyz(app.port)).status === 200, 1000, 20);
    const closing = app.close();
    try {
      const during = await readyz(ops);
      expect(during).toMatchObject({ status: 503, body: { status: "not_serving" } });
      expect((await get(ops, "/healthz")).status).toBe(200);
    } finally {
      held.socket.destroy();
      await closing;
    }
  });

  it("an OPS_PORT in use is one config line naming OPS_PORT", async () => {
    const busy = net.createServer();
    await new Promise<void>((r) => busy.listen(0, "127.0.0.1", r));
    const port = (busy.address() as net.AddressInfo).port;
    try {
      await expect(startTestApp({ env: { OPS_PORT: String(port) } })).rejects.toThrow(/^OPS_PORT: .* already in use/);
    } finally {
      busy.close();
    }
  });
});
