import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createMemoryTokenStore } from "../../src/adapters/memory/memory-token-store.js";
import { httpRequest, type HttpAnswer } from "../support/authz.js";
import { createFaultyStore, type FaultyStore } from "../support/faulty-store.js";
import { createManualClock, HOUR, type ManualClock } from "../support/manual-clock.js";
import { h2Request } from "../support/h2-request.js";
import { counter, metricsText } from "../support/probes.js";
import { holdRaw, parseHttp1Response, rawExchange } from "../support/raw-socket.js";
import { useTestApp } from "../support/test-app.js";
import { waitUntil } from "../support/poll.js";

/**
 * POST /oauth2/introspect (RFC 7662) on the real service, over HTTP/1.1 (node:http, raw sockets)
 * and HTTP/2 (curl). The RFC 7662 client nobody here wrote (Authlib): oauth2-introspect-authlib.e2e.test.ts.
 */
const CALLER = "caller-token-0123456789abcdef-0123456789";
const GATEWAY_SECRET = "gateway+secret-0123456789abcdefghij";
const HASHED_SECRET = "hashed-secret-0123456789abcdefghijklm";
const ISSUER = "https://auth.example.com";
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString("base64")}`;
const GATEWAY = basic("gateway", GATEWAY_SECRET);

let faulty: FaultyStore;
let clock: ManualClock;
const t = useTestApp(() => {
  clock = createManualClock(new Date(Math.floor(Date.now() / 1000) * 1000));
  faulty = createFaultyStore(createMemoryTokenStore());
  const hashed = createHash("sha256").update(HASHED_SECRET).digest("hex");
  return {
    store: faulty.store,
    clock,
    logLevel: "debug",
    env: {
      INTROSPECT_CALLER_TOKEN: CALLER,
      OAUTH2_INTROSPECT_CLIENTS: `gateway:${GATEWAY_SECRET}\nhashed:sha256:${hashed}`,
      OAUTH2_ISSUER: ISSUER,
      HTTP_REQUEST_TIMEOUT_MS: "1500",
      HTTP_HEADERS_TIMEOUT_MS: "1000",
    },
  };
});

const FORM = "application/x-www-form-urlencoded";
function introspect(
  body: string,
  headers: Record<string, string> | [string, string][] = { authorization: GATEWAY },
  method = "POST",
): Promise<HttpAnswer> {
  const h = Array.isArray(headers) ? headers : { "content-type": FORM, ...headers };
  return httpRequest(t.port, "/oauth2/introspect", { method, headers: h, body });
}
const form = (token: string) => `token=${encodeURIComponent(token)}`;
const json = (r: HttpAnswer) => JSON.parse(r.body) as Record<string, unknown>;

let tenants = 0;
/** A key of a fresh tenant (each tenant holds at most 3 active keys). */
async function newKey(tenantId = `acme-${++tenants}`) {
  return t.grpc.createKey({ tenantId, label: "rfc7662" }, { bearer: t.adminKey });
}

function expectOAuthError(r: HttpAnswer, status: number, error: string) {
  expect(r.status).toBe(status);
  expect(r.headers["cache-control"]).toBe("no-store");
  expect(Object.keys(json(r)).sort()).toEqual(["error", "error_description"]);
  expect(json(r).error).toBe(error);
}

describe("POST /oauth2/introspect: the answer", () => {
  it("an active API key: the RFC 7662 claims, Cache-Control no-store", async () => {
    const { token, key } = await newKey();
    const r = await introspect(`${form(token)}&token_type_hint=access_token`);
    expect(r.status).toBe(200);
    expect(r.headers["content-type"]).toBe("application/json; charset=utf-8");
    expect(r.headers["cache-control"]).toBe("no-store");
    expect(r.headers.pragma).toBe("no-cache");
    expect(json(r)).toEqual({
      active: true,
      client_id: key!.id,
      token_type: "Bearer",
      iat: Math.floor(clock.now().getTime() / 1000),
      sub: key!.id,
      iss: ISSUER,
      tenant_id: key!.tenantId,
      admin: false,
      warpflow_token_type: "api_key",
      ext: { tenant_id: key!.tenantId, admin: false, warpflow_token_type: "api_key" },
    });
  });

  it("a session: exp and iat (one hour apart), client_id and sub its session id", async () => {
    const s = await t.grpc.createSession({ tenantId: "acme" }, { bearer: t.adminKey });
    const r = await introspect(form(s.token));
    const now = Math.floor(clock.now().getTime() / 1000);
    expect(json(r)).toEqual({
      active: true,
      client_id: s.sessionId,
      token_type: "Bearer",
      exp: now + 3600,
      iat: now,
      sub: s.sessionId,
      iss: ISSUER,
      tenant_id: "acme",
      admin: false,
      warpflow_token_type: "session",
      ext: { tenant_id: "acme", admin: false, warpflow_token_type: "session" },
    });
  });

  it("a scoped key: scope is its scopes, space-separated; an allowlisted key is inactive (no client address here)", async () => {
    const scoped = await t.grpc.createKey(
      { tenantId: `acme-${++tenants}`, label: "rfc7662", scopes: ["contacts:read", "deals.write"] },
      { bearer: t.adminKey },
    );
    expect(json(await introspect(form(scoped.token)))).toMatchObject({
      active: true,
      scope: "contacts:read deals.write",
    });
    const pinned = await t.grpc.createKey(
      { tenantId: `acme-${++tenants}`, label: "rfc7662", allowedCidrs: ["10.0.0.0/8"] },
      { bearer: t.adminKey },
    );
    expect(json(await introspect(form(pinned.token)))).toEqual({ active: false });
  });

  it("a rotated key in its grace: exp is the end of the grace; the admin key says admin: true", async () => {
    const { token, key } = await newKey();
    const rotated = await t.grpc.rotateKey({ tenantId: key!.tenantId, keyId: key!.id }, { bearer: t.adminKey });
    const r = json(await introspect(form(token)));
    expect(r.exp).toBe(Math.floor(Number(rotated.previousKey!.revokeAt!.seconds)));
    expect(json(await introspect(form(t.adminKey)))).toMatchObject({ active: true, admin: true });
  });

  it('every inactive token is {"active": false} and nothing else: unknown, malformed, revoked, expired, over-long', async () => {
    const { token, key } = await newKey("beta");
    await t.grpc.revokeKey({ tenantId: "beta", keyId: key!.id }, { bearer: t.adminKey });
    const s = await t.grpc.createSession({ tenantId: "beta" }, { bearer: t.adminKey });
    clock.advance(HOUR);
    const unknown = token.slice(0, -6) + "AAAAAA";
    for (const bad of [token, s.token, unknown, "not-a-token", "x".repeat(20_000), "eyJhbGciOiJub25lIn0.e30."]) {
      const r = await introspect(form(bad));
      expect(r.status).toBe(200);
      expect(r.body).toBe('{"active":false}');
      expect(r.headers["cache-control"]).toBe("no-store");
    }
  });

  it("the same cache and metrics as Introspect: method OAuth2Introspect, the store read once for a token asked many times", async () => {
    const { token } = await newKey();
    const cold = await metricsText(t.baseUrl);
    expect(json(await introspect(form(token))).active).toBe(true); // reads the key and its tenant's policy
    const before = await metricsText(t.baseUrl);
    expect(
      counter(before, "warpflow_introspect_store_reads_total") - counter(cold, "warpflow_introspect_store_reads_total"),
    ).toBe(2);
    for (let i = 0; i < 5; i++) expect(json(await introspect(form(token))).active).toBe(true);
    await t.grpc.introspect({ token }, { metadata: { "x-warpflow-caller-token": CALLER } });
    const after = await metricsText(t.baseUrl);
    const d = (name: string, labels: Record<string, string> = {}) =>
      counter(after, name, labels) - counter(before, name, labels);
    expect(d("warpflow_introspect_store_reads_total")).toBe(0); // the rest, Introspect's too, from the one cache
    expect(d("warpflow_introspections_total", { result: "active" })).toBe(6);
    expect(d("warpflow_rpc_duration_seconds_count", { method: "OAuth2Introspect", code: "ok" })).toBe(5);
  });

  it("store down: 503 temporarily_unavailable with Retry-After, never an inactive answer", async () => {
    const { token } = await newKey("gamma");
    faulty.setMode({ kind: "fail" });
    try {
      const r = await introspect(form(token));
      expectOAuthError(r, 503, "temporarily_unavailable");
      expect(r.headers["retry-after"]).toBe("1");
    } finally {
      faulty.heal();
    }
    expect(json(await introspect(form(token))).active).toBe(true);
  });
});

describe("POST /oauth2/introspect: the caller must authenticate", () => {
  it("no credential, a wrong secret, an unknown client, two headers, a non-caller bearer: 401 invalid_client with both challenges", async () => {
    const { token } = await newKey();
    const cases: [string, Record<string, string> | [string, string][]][] = [
      ["none", {}],
      ["wrong secret", { authorization: basic("gateway", GATEWAY_SECRET + "x") }],
      ["unknown client", { authorization: basic("stranger", GATEWAY_SECRET) }],
      ["a token as bearer", { authorization: `Bearer ${token}` }],
      ["caller token in basic", { authorization: basic("caller-token", CALLER) }],
      ["garbage basic", { authorization: "Basic !!!not-base64" }],
      ["wrong caller header", { "x-warpflow-caller-token": CALLER + "x" }],
      [
        "two headers",
        [
          ["content-type", FORM],
          ["authorization", GATEWAY],
          ["authorization", GATEWAY],
        ],
      ],
    ];
    for (const [name, headers] of cases) {
      const r = await introspect(form(token), headers);
      expect(r.status, name).toBe(401);
      expectOAuthError(r, 401, "invalid_client");
      expect(r.headers["www-authenticate"], name).toBe(
        'Basic realm="warpflow-introspection", charset="UTF-8", Bearer realm="warpflow-introspection"',
      );
      expect(r.body).not.toContain(token);
    }
  });

  it("accepted: Basic (plain and hashed secret, form-urlencoded per RFC 6749 2.3.1), Bearer caller token, x-warpflow-caller-token", async () => {
    const { token } = await newKey();
    for (const headers of <Record<string, string>[]>[
      { authorization: GATEWAY },
      { authorization: basic("hashed", HASHED_SECRET) },
      { authorization: basic("gateway", encodeURIComponent(GATEWAY_SECRET)) },
      { authorization: `Bearer ${CALLER}` },
      { "x-warpflow-caller-token": CALLER },
    ]) {
      const r = await introspect(form(token), headers);
      expect(r.status).toBe(200);
      expect(json(r).active).toBe(true);
    }
  });

  it("hostile Authorization bytes (raw non-ASCII, bad base64, non-UTF-8 ids, over-long): 401, nothing echoed", async () => {
    const variants: Buffer[] = [
      Buffer.concat([Buffer.from("Basic "), Buffer.from([0xe9, 0xff, 0x41, 0x3d])]),
      Buffer.from(`Basic ${Buffer.from([0xff, 0xfe, 0x3a, 0x41, 0x42]).toString("base64")}`),
      Buffer.from(`Basic ${Buffer.from(`gateway:${GATEWAY_SECRET}%ZZ`).toString("base64")}`),
      Buffer.from(`Basic ${"QUJD".repeat(2000)}`),
      Buffer.concat([Buffer.from(`Bearer ${CALLER}`), Buffer.from([0xff])]),
      Buffer.from(`Basic  ${Buffer.from(`gateway:${GATEWAY_SECRET}`).toString("base64")} extra`),
    ];
    for (const value of variants) {
      const body = "token=wf_acme_ECHOME";
      const r = await rawExchange(
        t.port,
        [
          Buffer.concat([
            Buffer.from(`POST /oauth2/introspect HTTP/1.1\r\nhost: x\r\nconnection: close\r\nauthorization: `),
            value,
            Buffer.from(`\r\ncontent-type: ${FORM}\r\ncontent-length: ${body.length}\r\n\r\n${body}`),
          ]),
        ],
        5000,
      );
      const text = r.data.toString("latin1");
      expect(parseHttp1Response(text).status).toBe(401);
      expect(text).toContain('"error":"invalid_client"');
      expect(text).not.toContain("ECHOME");
      expect(text).not.toContain(GATEWAY_SECRET);
      expect(text).not.toContain(CALLER);
    }
  });

  it("an unauthenticated caller is answered before its body is read (a huge body behind it changes nothing)", async () => {
    const r = await introspect(`token=${"a".repeat(1_000_000)}`, {});
    expect(r.status).toBe(401);
  });
});

describe("POST /oauth2/introspect: hostile requests get clear errors, never an echo", () => {
  it("wrong method 405 (Allow: POST), wrong content type 415", async () => {
    const get = await introspect("", { authorization: GATEWAY }, "GET");
    expectOAuthError(get, 405, "invalid_request");
    expect(get.headers.allow).toBe("POST");
    for (const type of ["application/json", "text/plain", "", "application/x-www-form-urlencoded; charset=latin1"]) {
      const r = await introspect('{"token":"wf_secret"}', [
        ["authorization", GATEWAY],
        ["content-type", type],
      ]);
      expectOAuthError(r, 415, "invalid_request");
      expect(r.body).not.toContain("wf_secret");
    }
  });

  it("a stranger's wrong method is 401 and logs at debug: the caller is checked first (review finding)", async () => {
    const before = t.logs.length;
    const get = await introspect("", {}, "GET");
    expectOAuthError(get, 401, "invalid_client");
    const rpc = () =>
      t.logs
        .slice(before)
        .map((l) => JSON.parse(l) as { rpc?: string; level?: number; code?: string })
        .filter((l) => l.rpc === "OAuth2Introspect");
    await waitUntil(() => rpc().length === 1);
    expect(rpc()[0]).toMatchObject({ level: 20, code: "unauthenticated" });
  });

  it("malformed forms: 400 invalid_request naming the parameter, never its value", async () => {
    const secretish = "wf_acme_SECRETVALUE";
    for (const [body, phrase] of [
      ["", "token parameter is required"],
      ["token=", "token parameter is required"],
      ["token_type_hint=access_token", "token parameter is required"],
      [`token=${secretish}&token=${secretish}`, "token parameter is given more than once"],
      [`token=${secretish}&token_type_hint=a&token_type_hint=b`, "token_type_hint parameter is given more than once"],
      [`token=${secretish}%ZZ`, "bad percent-encoding"],
      [`token=${secretish}%C3%28`, "bad percent-encoding"],
      [`token=${secretish}\u00e9`, "raw non-ASCII"],
      [`token=${secretish}\u0001`, "raw non-ASCII or control bytes"],
    ] as const) {
      const r = await introspect(body);
      expectOAuthError(r, 400, "invalid_request");
      expect(json(r).error_description).toContain(phrase);
      expect(r.body).not.toContain("SECRETVALUE");
    }
  });

  it("unknown parameters are ignored; a body over MAX_BODY_BYTES is 413", async () => {
    const { token } = await newKey();
    expect(json(await introspect(`client_id=x&foo=%ZZ&${form(token)}`)).active).toBe(true);
    const big = await introspect(`${form(token)}&pad=${"a".repeat(70_000)}`);
    expectOAuthError(big, 413, "invalid_request");
  });

  it("a slow body is cut off by HTTP_REQUEST_TIMEOUT_MS; the service answers others meanwhile", async () => {
    const held = holdRaw(
      t.port,
      `POST /oauth2/introspect HTTP/1.1\r\nhost: x\r\nauthorization: ${GATEWAY}\r\ncontent-type: ${FORM}\r\ncontent-length: 100\r\n\r\ntoken=wf_`,
    );
    await held.connected;
    const { token } = await newKey();
    expect(json(await introspect(form(token))).active).toBe(true);
    const ms = await held.closed;
    expect(ms).toBeLessThan(10_000);
    const status = parseHttp1Response(held.received()).status;
    expect(status).toBe(408);
  });

  it("no token, Authorization value or secret in any log line", async () => {
    const { token } = await newKey();
    await introspect(form(token));
    await introspect(form(token), { authorization: basic("gateway", "wrong-" + GATEWAY_SECRET) });
    await introspect(`token=${token}&token=${token}`);
    const text = t.logs.join("\n");
    expect(text).toContain('"rpc":"OAuth2Introspect"');
    for (const secret of [token, GATEWAY_SECRET, CALLER, GATEWAY.slice(6), HASHED_SECRET]) {
      expect(text).not.toContain(secret);
    }
  });

  it("over HTTP/2 (node:http2): an active key, a body over MAX_BODY_BYTES 413, a repeated token 400, a 401 before the body", async () => {
    const { token } = await newKey();
    const path = "/oauth2/introspect";
    const post = (body: string | undefined, auth = GATEWAY) =>
      h2Request(t.port, { ":path": path, "content-type": FORM, authorization: auth }, body).done;
    const ok = await post(form(token));
    expect([ok.status, JSON.parse(ok.body.toString()).active]).toEqual([200, true]);
    const big = await post(`${form(token)}&pad=${"a".repeat(70_000)}`);
    expect([big.status, JSON.parse(big.body.toString()).error]).toEqual([413, "invalid_request"]);
    const twice = await post(`${form(token)}&${form(token)}`);
    expect(twice.status).toBe(400);
    expect(twice.body.toString()).not.toContain(token);
    // A refused caller's stream is answered at once; the body it is still sending is not read.
    const held = h2Request(t.port, { ":path": path, "content-type": FORM, authorization: "Basic eDp5" });
    held.stream.write("token=wf_");
    const refused = await held.done;
    expect(refused.status).toBe(401);
  });

  it("over HTTP/2 (curl --http2-prior-knowledge, -u, --data-urlencode)", async () => {
    const { token } = await newKey();
    const out = await new Promise<string>((resolve, reject) =>
      execFile(
        "curl",
        [
          "-sS",
          "--http2-prior-knowledge",
          "-u",
          `gateway:${GATEWAY_SECRET}`,
          "--data-urlencode",
          `token=${token}`,
          `${t.baseUrl}/oauth2/introspect`,
        ],
        (err, stdout) => (err ? reject(new Error(err.message)) : resolve(stdout)),
      ),
    );
    expect(JSON.parse(out)).toMatchObject({ active: true, token_type: "Bearer", warpflow_token_type: "api_key" });
  });
});

describe("POST /oauth2/introspect with no caller credential configured: refused (fail closed)", () => {
  const open = useTestApp();
  it("401 invalid_client for every call, even with a valid token; Introspect itself stays open", async () => {
    const { token } = await open.grpc.createKey({ tenantId: "acme", label: "x" }, { bearer: open.adminKey });
    const tries: Record<string, string>[] = [
      {},
      { authorization: basic("gateway", GATEWAY_SECRET) },
      { authorization: `Bearer ${token}` },
    ];
    for (const headers of tries) {
      const r = await httpRequest(open.port, "/oauth2/introspect", {
        method: "POST",
        headers: { "content-type": FORM, ...headers },
        body: form(token),
      });
      expect(r.status).toBe(401);
      expect(r.headers["www-authenticate"]).toBe('Basic realm="warpflow-introspection", charset="UTF-8"');
      expect(JSON.parse(r.body)).toEqual({
        error: "invalid_client",
        error_description: "introspection callers are not configured on this server",
      });
    }
    expect((await open.grpc.introspect({ token })).active).toBe(true);
  });
});
