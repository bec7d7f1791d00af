import { describe, expect, it } from "vitest";
import { execFile, execFileSync } from "node:child_process";
import * as http from "node:http";
import * as http2 from "node:http2";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { createMemoryTokenStore } from "../../src/adapters/memory/memory-token-store.js";
import { bearerChallenge, httpRequest, warpflowHeaders, type HttpAnswer } from "../support/authz.js";
import { createFaultyStore, type FaultyStore } from "../support/faulty-store.js";
import {
  cognitoClaims,
  cognitoEnv,
  createTestKey,
  jwksOf,
  signJwt,
  writeTempJson,
  type TestKey,
} from "../support/jwt.js";
import { createManualClock, HOUR, type ManualClock } from "../support/manual-clock.js";
import { rawExchange } from "../support/raw-socket.js";
import { useTestApp } from "../support/test-app.js";
import { metricsText } from "../support/probes.js";

/**
 * The forward-auth endpoint (/authz) on the real service over HTTP/1.1: what nginx auth_request,
 * Envoy ext_authz, Traefik ForwardAuth and Caddy forward_auth see. (Through a real nginx:
 * test/e2e/nginx-edge.e2e.test.ts.)
 */
const curl = (() => {
  try {
    return execFileSync("curl", ["--version"], { encoding: "utf8" }).includes("HTTP2");
  } catch {
    return false;
  }
})();
if (!curl) console.log("forward-auth: curl HTTP/2 cases SKIPPED: no curl with HTTP/2 (apt-get install curl)");

let faulty: FaultyStore;
let clock: ManualClock;
let jwk: TestKey;
const admin = () => ({ bearer: t.adminKey });

const t = useTestApp(async () => {
  jwk = createTestKey();
  clock = createManualClock(new Date());
  faulty = createFaultyStore(createMemoryTokenStore());
  return { store: faulty.store, clock, env: { ...cognitoEnv(writeTempJson(jwksOf(jwk))), LOG_LEVEL: "debug" } };
});

const authz = (headers: Record<string, string> | [string, string][], path = "/authz", method = "GET") =>
  httpRequest(t.port, path, { headers, method });
const bearer = (token: string, extra: Record<string, string> = {}) =>
  authz({ authorization: `Bearer ${token}`, ...extra });
const challenge = bearerChallenge;

function expectDenied(r: HttpAnswer, status: number, wwwAuthenticate: string) {
  expect(r.status).toBe(status);
  expect(r.headers["www-authenticate"]).toBe(wwwAuthenticate);
  expect(warpflowHeaders(r.headers)).toEqual({});
  expect(JSON.parse(r.body)).toMatchObject({ error: { code: expect.any(String), message: expect.any(String) } });
}

describe("allowed: 200, empty body, the claims as x-warpflow-* headers", () => {
  it("an API key: tenant, type and key id; a use counts in last_used_at", async () => {
    const { token, key } = await t.grpc.createKey({ tenantId: "acme", label: "edge" }, admin());
    expect((await t.grpc.listKeys({ tenantId: "acme" }, admin())).keys[0]!.lastUsedAt).toBeUndefined();
    const r = await bearer(token);
    expect(r.status).toBe(200);
    expect(r.body).toBe("");
    expect(warpflowHeaders(r.headers)).toEqual({
      "x-warpflow-key-id": key!.id,
      "x-warpflow-tenant-id": "acme",
      "x-warpflow-token-type": "api_key",
    });
    expect((await t.grpc.listKeys({ tenantId: "acme" }, admin())).keys[0]!.lastUsedAt).toBeDefined();
  });

  it("any method, any path under /authz/, any query; the scheme in any case", async () => {
    const { token } = await t.grpc.createKey({ tenantId: "methods", label: "edge" }, admin());
    for (const [method, path] of [
      ["POST", "/authz/api/v1/orders?x=1"],
      ["DELETE", "/authz/"],
      ["PUT", "/authz?a=b"],
      ["HEAD", "/authz"],
      ["OPTIONS", "/authz/x"],
    ] as const) {
      const r = await authz({ authorization: `bEaReR ${token}` }, path, method);
      expect([method, path, r.status, r.headers["x-warpflow-tenant-id"]]).toEqual([method, path, 200, "methods"]);
    }
    expect((await authz({ authorization: `Bearer ${token}` }, "/authzz")).status).toBe(404);
  });

  it("a session: session id and expires-at (RFC 3339)", async () => {
    const s = await t.grpc.createSession({ tenantId: "acme" }, admin());
    const r = await bearer(s.token);
    expect(r.status).toBe(200);
    expect(warpflowHeaders(r.headers)).toEqual({
      "x-warpflow-expires-at": timestampDate(s.expiresAt!).toISOString().replace(".000Z", "Z"),
      "x-warpflow-session-id": s.sessionId,
      "x-warpflow-tenant-id": "acme",
      "x-warpflow-token-type": "session",
    });
  });

  it("a rotated key: deprecated and its expiry; an admin key: admin", async () => {
    const { token, key } = await t.grpc.createKey({ tenantId: "rotating", label: "edge" }, admin());
    const rotated = await t.grpc.rotateKey({ tenantId: "rotating", keyId: key!.id }, admin());
    const r = await bearer(token);
    expect(r.headers["x-warpflow-deprecated"]).toBe("true");
    expect(r.headers["x-warpflow-expires-at"]).toBe(
      timestampDate(rotated.previousKey!.revokeAt!).toISOString().replace(".000Z", "Z"),
    );
    expect(r.headers["x-warpflow-admin"]).toBeUndefined();
    const a = await bearer(t.adminKey);
    expect([a.status, a.headers["x-warpflow-admin"], a.headers["x-warpflow-tenant-id"]]).toEqual([
      200,
      "true",
      "admin",
    ]);
  });

  it("a Cognito JWT: subject and groups, each percent-encoded so commas and non-ASCII survive", async () => {
    const token = signJwt(
      jwk,
      cognitoClaims({ tenantId: "acme", sub: "user-1", groups: ["admins", "ops, night", "équipe"] }),
    );
    const r = await bearer(token);
    expect(r.status).toBe(200);
    expect(r.headers["x-warpflow-token-type"]).toBe("cognito");
    expect(r.headers["x-warpflow-subject"]).toBe("user-1");
    expect(r.headers["x-warpflow-groups"]).toBe("admins,ops%2C%20night,%C3%A9quipe");
    expect(String(r.headers["x-warpflow-groups"]).split(",").map(decodeURIComponent)).toEqual([
      "admins",
      "ops, night",
      "équipe",
    ]);
    expect(r.headers["x-warpflow-expires-at"]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });

  it("x-warpflow-expected-tenant-id binds the route to a tenant: the owner passes, another tenant gets 403 insufficient_scope (not a use)", async () => {
    const { token } = await t.grpc.createKey({ tenantId: "bound", label: "edge" }, admin());
    expect((await bearer(token, { "x-warpflow-expected-tenant-id": "bound" })).status).toBe(200);
    const { token: other } = await t.grpc.createKey({ tenantId: "other", label: "edge" }, admin());
    expectDenied(
      await bearer(other, { "x-warpflow-expected-tenant-id": "bound" }),
      403,
      challenge("insufficient_scope", "token not valid for this tenant"),
    );
    expect((await t.grpc.listKeys({ tenantId: "other" }, admin())).keys[0]!.lastUsedAt).toBeUndefined();
  });
});

describe("denied: RFC 6750", () => {
  it("no credential, or not a Bearer one: 401 with the bare challenge", async () => {
    expectDenied(await authz({}), 401, 'Bearer realm="warpflow"');
    expectDenied(await authz({ authorization: "Basic dXNlcjpwYXNz" }), 401, 'Bearer realm="warpflow"');
  });

  it("a credential /authz cannot read: 401 invalid_request (two headers, an empty or two-part Bearer)", async () => {
    const { token } = await t.grpc.createKey({ tenantId: "twice", label: "edge" }, admin());
    const twice = await authz([
      ["authorization", `Bearer ${token}`],
      ["authorization", `Bearer ${token}`],
    ]);
    expectDenied(twice, 401, challenge("invalid_request", "more than one authorization header"));
    expectDenied(
      await authz({ authorization: "Bearer" }),
      401,
      challenge("invalid_request", "malformed bearer credential"),
    );
    expectDenied(
      await authz({ authorization: `Bearer ${token} ${token}` }),
      401,
      challenge("invalid_request", "malformed bearer credential"),
    );
  });

  it("inactive tokens: 401 invalid_token with a fixed phrase per reason, never the token", async () => {
    const { token: revokedKey, key } = await t.grpc.createKey({ tenantId: "deny", label: "edge" }, admin());
    await t.grpc.revokeKey({ tenantId: "deny", keyId: key!.id }, admin());
    const { token: hipaaKey } = await t.grpc.createKey({ tenantId: "clinic", label: "edge" }, admin());
    await t.grpc.setTenantPolicy({ tenantId: "clinic", hipaaEnabled: true }, admin());
    const session = await t.grpc.createSession({ tenantId: "deny" }, admin());
    const { token: live } = await t.grpc.createKey({ tenantId: "deny", label: "live" }, admin());
    const cases: [string, string][] = [
      [live.slice(0, -1) + (live.endsWith("a") ? "b" : "a"), "token malformed"],
      [`wf_deny_${"A".repeat(32)}000000`, "token malformed"],
      [revokedKey, "token revoked"],
      [hipaaKey, "token type disabled by tenant policy"],
    ];
    for (const [token, phrase] of cases) {
      const r = await bearer(token);
      expectDenied(r, 401, challenge("invalid_token", phrase));
      expect(r.body + JSON.stringify(r.headers)).not.toContain(token.slice(8));
    }
    const start = clock.now();
    clock.advance(HOUR + 1000);
    try {
      expectDenied(await bearer(session.token), 401, challenge("invalid_token", "token expired"));
    } finally {
      clock.set(start);
    }
  });

  it("the caller restriction is not set here, so a caller credential changes nothing", async () => {
    expect((await bearer(t.adminKey, { "x-warpflow-caller-token": "anything" })).status).toBe(200);
  });
});

describe("store down: 503, fail closed", () => {
  it("an uncached token while the store fails answers 503 (never 200), and recovers", async () => {
    const { token } = await t.grpc.createKey({ tenantId: "outage", label: "edge" }, admin());
    faulty.setMode({ kind: "fail" });
    try {
      const r = await bearer(token);
      expect(r.status).toBe(503);
      expect(warpflowHeaders(r.headers)).toEqual({});
      expect(JSON.parse(r.body)).toEqual({ error: { code: "unavailable", message: "token store unavailable, retry" } });
    } finally {
      faulty.heal();
    }
    expect((await bearer(token)).status).toBe(200);
  });
});

describe("the request body is never read or waited for", () => {
  it("a Content-Length with no body gets its answer at once, and that connection is closed (it cannot carry another request)", async () => {
    const started = Date.now();
    const x = await rawExchange(
      t.port,
      [`POST /authz HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${t.adminKey}\r\nContent-Length: 100\r\n\r\n`],
      5000,
    );
    expect(x.closed).toBe(true);
    expect(Date.now() - started).toBeLessThan(4000);
    const text = x.data.toString();
    expect(text).toMatch(/^HTTP\/1\.1 200 /);
    expect(text.toLowerCase()).toContain("connection: close");
    expect(text).toContain("x-warpflow-tenant-id: admin");
  });

  it("without a body (none declared, or Content-Length: 0) the connection stays alive, allowed or denied: one socket for every request", async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const sockets = new Set<unknown>();
    agent.on("free", (s) => sockets.add(s));
    try {
      for (const [headers, status] of [
        [{ authorization: `Bearer ${t.adminKey}`, "content-length": "0" }, 200],
        [{ "content-length": "0" }, 401],
        [{ authorization: "Bearer wf_acme_x" }, 401],
        [{ authorization: `Bearer ${t.adminKey}` }, 200],
      ] as const) {
        const r = await httpRequest(t.port, "/authz", { method: "POST", headers, agent });
        expect(r.status).toBe(status);
        expect(r.headers.connection).toBe("keep-alive");
      }
      expect(sockets.size).toBe(1);
    } finally {
      agent.destroy();
    }
  });
});

describe("observability: method label Authorize, no secret anywhere", () => {
  it('counts calls under method="Authorize" by code, and no log line or metric holds a token', async () => {
    const { token } = await t.grpc.createKey({ tenantId: "seen", label: "edge" }, admin());
    await bearer(token);
    await bearer(token.slice(0, -2) + "zz");
    const metrics = await metricsText(t.baseUrl);
    expect(metrics).toMatch(/warpflow_rpc_duration_seconds_count\{method="Authorize",code="ok"\} [1-9]/);
    expect(metrics).toMatch(/warpflow_rpc_duration_seconds_count\{method="Authorize",code="unauthenticated"\} [1-9]/);
    expect(metrics).toMatch(/warpflow_rpc_duration_seconds_count\{method="Authorize",code="permission_denied"\} [1-9]/);
    expect(metrics).toMatch(/warpflow_rpc_duration_seconds_count\{method="Authorize",code="unavailable"\} [1-9]/);
    const authorizeLines = t.logs.filter((l) => l.includes('"rpc":"Authorize"'));
    expect(authorizeLines.length).toBeGreaterThan(0);
    for (const text of [metrics, ...t.logs]) {
      expect(text).not.toContain(token.slice(8));
      expect(text).not.toContain(t.adminKey.slice(9));
      expect(text.toLowerCase()).not.toContain("bearer ");
    }
  });
});

describe("HTTP/2 (h2c prior knowledge) on the same port", () => {
  /** curl --http2-prior-knowledge: status line and headers of the answer. */
  const curlH2 = (path: string, headers: string[]) =>
    new Promise<{ statusLine: string; headers: Record<string, string>; body: string }>((resolve, reject) => {
      const args = [
        "-s",
        "-i",
        "--http2-prior-knowledge",
        "--max-time",
        "5",
        ...headers.flatMap((h) => ["-H", h]),
        `${t.baseUrl}${path}`,
      ];
      execFile("curl", args, { encoding: "utf8" }, (err, stdout) => {
        if (err) return reject(err as Error);
        const [head, ...rest] = stdout.split("\r\n\r\n");
        const lines = head!.split("\r\n");
        const out: Record<string, string> = {};
        for (const l of lines.slice(1))
          out[l.slice(0, l.indexOf(":")).toLowerCase()] = l.slice(l.indexOf(":") + 1).trim();
        resolve({ statusLine: lines[0]!.trim(), headers: out, body: rest.join("\r\n\r\n") });
      });
    });

  it.skipIf(!curl)("curl: allowed with the claims headers, denied with the RFC 6750 challenge", async () => {
    const { token, key } = await t.grpc.createKey({ tenantId: "h2", label: "edge" }, admin());
    const ok = await curlH2("/authz/api/orders?x=1", [
      `Authorization: Bearer ${token}`,
      "x-warpflow-expected-tenant-id: h2",
    ]);
    expect(ok.statusLine).toBe("HTTP/2 200");
    expect(warpflowHeaders(ok.headers)).toEqual({
      "x-warpflow-key-id": key!.id,
      "x-warpflow-tenant-id": "h2",
      "x-warpflow-token-type": "api_key",
    });
    expect(ok.body).toBe("");
    const missing = await curlH2("/authz", []);
    expect([missing.statusLine, missing.headers["www-authenticate"]]).toEqual([
      "HTTP/2 401",
      'Bearer realm="warpflow"',
    ]);
    const mismatch = await curlH2("/authz", [`Authorization: Bearer ${token}`, "x-warpflow-expected-tenant-id: other"]);
    expect([mismatch.statusLine, mismatch.headers["www-authenticate"]]).toEqual([
      "HTTP/2 403",
      challenge("insufficient_scope", "token not valid for this tenant"),
    ]);
    const revoked = await t.grpc.revokeKey({ tenantId: "h2", keyId: key!.id }, admin());
    expect(revoked.key).toBeDefined();
    const gone = await curlH2("/authz", [`Authorization: Bearer ${token}`]);
    expect([gone.statusLine, gone.headers["www-authenticate"]]).toEqual([
      "HTTP/2 401",
      challenge("invalid_token", "token revoked"),
    ]);
  });

  it("a declared body that never comes stalls nothing: the answer arrives, and the session serves the next stream", async () => {
    const session = http2.connect(t.baseUrl);
    try {
      let stalledStream: http2.ClientHttp2Stream | undefined;
      const ask = (headers: http2.OutgoingHttpHeaders, endStream: boolean) =>
        new Promise<{ status: number; tenant: unknown; challenge: unknown }>((resolve, reject) => {
          const stream = session.request({ ":path": "/authz", ...headers }, { endStream });
          if (!endStream) stalledStream = stream;
          stream.on("response", (h) =>
            resolve({
              status: Number(h[":status"]),
              tenant: h["x-warpflow-tenant-id"],
              challenge: h["www-authenticate"],
            }),
          );
          stream.on("error", reject);
          stream.resume();
        });
      const started = Date.now();
      const stalled = await ask(
        { ":method": "POST", authorization: `Bearer ${t.adminKey}`, "content-length": "100" },
        false,
      );
      expect(stalled).toMatchObject({ status: 200, tenant: "admin" });
      // The server ends the stream it answered with RST_STREAM NO_ERROR (RFC 9113 8.1): our side,
      // which never finished its body, is closed for us, not left open.
      const rstCode = await new Promise<number | undefined>((resolve) => {
        if (stalledStream!.closed) return resolve(stalledStream!.rstCode);
        const timer = setTimeout(() => resolve(undefined), 2000);
        stalledStream!.on("close", () => (clearTimeout(timer), resolve(stalledStream!.rstCode)));
      });
      expect(rstCode).toBe(http2.constants.NGHTTP2_NO_ERROR);
      expect(Date.now() - started).toBeLessThan(2000);
      expect(await ask({ ":method": "GET" }, true)).toMatchObject({
        status: 401,
        challenge: 'Bearer realm="warpflow"',
      });
      expect(await ask({ ":method": "GET", authorization: `Bearer ${t.adminKey}` }, true)).toMatchObject({
        status: 200,
        tenant: "admin",
      });
      expect(session.closed || session.destroyed).toBe(false);
    } finally {
      session.close();
    }
  });
});
