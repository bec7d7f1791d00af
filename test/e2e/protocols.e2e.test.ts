import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { describe, expect, it } from "vitest";
import { TokenService, TokenType } from "../../src/gen/warpflow/auth/v1/token_service_pb.js";
import { useTestApp } from "../support/test-app.js";
import { metricsText, readyz } from "../support/probes.js";

/** One port, every protocol: Connect over HTTP/1.1, gRPC via connect-node, REST, metrics (reflection and health: reflection.e2e.test.ts). */
const t = useTestApp();

const auth = () => ({ headers: { authorization: `Bearer ${t.adminKey}` } });

describe("Connect clients", () => {
  it("a Connect client over HTTP/1.1 calls admin RPCs and Introspect", async () => {
    const client = createClient(TokenService, createConnectTransport({ baseUrl: t.baseUrl, httpVersion: "1.1" }));
    const { token, key } = await client.createKey({ tenantId: "conn", label: "Connect" }, auth());
    const r = await client.introspect({ token });
    expect(r).toMatchObject({ active: true, tokenType: TokenType.API_KEY, keyId: key!.id, tenantId: "conn" });
    const err = await client.listKeys({ tenantId: "conn" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.Unauthenticated);
  });

  it("a connect-node gRPC client (HTTP/2) reaches the same service", async () => {
    const client = createClient(TokenService, createGrpcTransport({ baseUrl: t.baseUrl }));
    const s = await client.createSession({ tenantId: "conn" }, auth());
    expect((await client.introspect({ token: s.token })).tokenType).toBe(TokenType.SESSION);
    const err = await client.introspect({ token: "" }).catch((e: unknown) => e);
    expect((err as ConnectError).code).toBe(Code.InvalidArgument);
  });
});

describe("plain HTTP/1.1", () => {
  it("serves Connect JSON to curl-style requests, with RFC 3339 timestamps", async () => {
    const created = await fetch(`${t.baseUrl}/warpflow.auth.v1.TokenService/CreateKey`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${t.adminKey}` },
      body: JSON.stringify({ tenantId: "curl", label: "curl" }),
    });
    expect(created.status).toBe(200);
    const body = (await created.json()) as { token: string; key: { createdAt: string; status: string } };
    expect(body.key.status).toBe("KEY_STATUS_ACTIVE");
    expect(body.key.createdAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    const res = await fetch(`${t.baseUrl}/warpflow.auth.v1.TokenService/Introspect`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token: body.token, expected_tenant_id: "curl" }),
    });
    expect(await res.json()).toMatchObject({ active: true, tokenType: "TOKEN_TYPE_API_KEY", tenantId: "curl" });
  });

  it("POST /api/v1/sessions answers exactly {token, tenant_id, expires_at} as in the docs", async () => {
    const res = await fetch(`${t.baseUrl}/api/v1/sessions`, {
      method: "POST",
      headers: { authorization: `Bearer ${t.adminKey}`, "content-type": "application/json" },
      body: JSON.stringify({ tenant_id: "acme" }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, string>;
    expect(Object.keys(body).sort()).toEqual(["expires_at", "tenant_id", "token"]);
    expect(body.tenant_id).toBe("acme");
    expect(body.token).toMatch(/^sess_acme_[0-9A-Za-z]{38}$/);
    expect(body.expires_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const ttl = Date.parse(body.expires_at!) - Date.now();
    expect(ttl).toBeGreaterThan(3590_000);
    expect(ttl).toBeLessThanOrEqual(3600_000);
  });

  it("REST errors carry a JSON body and the matching status", async () => {
    const { token: tenantKey } = await t.grpc.createKey({ tenantId: "acme", label: "t" }, { bearer: t.adminKey });
    const post = (headers: Record<string, string>, body: string) =>
      fetch(`${t.baseUrl}/api/v1/sessions`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body,
      });
    const cases: Array<[Promise<Response>, number, string]> = [
      [post({}, '{"tenant_id":"acme"}'), 401, "unauthenticated"],
      [post({ authorization: "Bearer wf_acme_nope" }, '{"tenant_id":"acme"}'), 401, "unauthenticated"],
      [post({ authorization: `Bearer ${tenantKey}` }, '{"tenant_id":"acme"}'), 403, "permission_denied"],
      [post({ authorization: `Bearer ${t.adminKey}` }, "{}"), 400, "invalid_argument"],
      [post({ authorization: `Bearer ${t.adminKey}` }, '{"tenant_id":"Nope!"}'), 400, "invalid_argument"],
    ];
    for (const [p, status, code] of cases) {
      const res = await p;
      expect(res.status).toBe(status);
      expect(res.headers.get("content-type")).toMatch(/application\/json/);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe(code);
    }
  });

  it("serves /healthz, /readyz and Prometheus /metrics", async () => {
    expect((await fetch(`${t.baseUrl}/healthz`)).status).toBe(200);
    expect((await readyz(t.baseUrl)).body).toEqual({
      status: "serving",
      store: process.env.MONGODB_URI ? "mongodb" : "memory",
      admin_key: "ok",
    });
    await t.grpc.introspect({ token: "garbage" });
    const text = await metricsText(t.baseUrl);
    expect(text).toMatch(/warpflow_rpc_duration_seconds_count\{method="Introspect",code="ok"\} [1-9]/);
    expect(text).toMatch(/warpflow_introspections_total\{result="malformed"\} [1-9]/);
  });
});
