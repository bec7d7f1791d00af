import { fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TokenService, TokenType } from "../../src/gen/warpflow/auth/v1/token_service_pb.js";
import { startTestApp, type TestApp } from "../support/test-app.js";

/** One port, every protocol: Connect over HTTP/1.1, gRPC via connect-node, REST, reflection, health, metrics. */
let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.close();
});

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
      fetch(`${t.baseUrl}/api/v1/sessions`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
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
    expect(await (await fetch(`${t.baseUrl}/readyz`)).json()).toEqual({ status: "serving" });
    await t.grpc.introspect({ token: "garbage" });
    const text = await (await fetch(`${t.baseUrl}/metrics`)).text();
    expect(text).toMatch(/warpflow_rpc_duration_seconds_count\{method="Introspect",code="ok"\} [1-9]/);
    expect(text).toMatch(/warpflow_introspections_total\{result="malformed"\} [1-9]/);
  });
});

describe("grpcurl's needs: reflection and health", () => {
  const require = createRequire(import.meta.url);
  const reflectionProtoDir = join(dirname(require.resolve("@grpc/reflection/package.json")), "build/proto");

  for (const version of ["v1", "v1alpha"] as const) {
    it(`server reflection ${version}: list services and describe TokenService`, async () => {
      const def = protoLoader.loadSync(`grpc/reflection/${version}/reflection.proto`, { includeDirs: [reflectionProtoDir], keepCase: true });
      const pkg = grpc.loadPackageDefinition(def) as any;
      const Reflection = pkg.grpc.reflection[version].ServerReflection;
      const client = new Reflection(t.address, grpc.credentials.createInsecure());
      const ask = (req: object) =>
        new Promise<any>((resolve, reject) => {
          const call = client.ServerReflectionInfo();
          call.on("data", (m: unknown) => {
            resolve(m);
            call.end();
          });
          call.on("error", reject);
          call.write(req);
        });
      try {
        const list = await ask({ list_services: "" });
        const names = list.list_services_response.service.map((s: { name: string }) => s.name);
        expect(names).toEqual(expect.arrayContaining(["warpflow.auth.v1.TokenService", "grpc.health.v1.Health"]));
        const file = await ask({ file_containing_symbol: "warpflow.auth.v1.TokenService" });
        const protos = file.file_descriptor_response.file_descriptor_proto.map((b: Buffer) => fromBinary(FileDescriptorProtoSchema, b));
        const svc = protos.flatMap((p: any) => p.service).find((s: any) => s.name === "TokenService");
        expect(svc.method.map((m: any) => m.name)).toEqual(expect.arrayContaining(["Introspect", "CreateKey", "RotateKey", "RevokeKey", "ListKeys", "CreateSession", "SetTenantPolicy", "GetTenantPolicy"]));
      } finally {
        client.close();
      }
    });
  }

  it("grpc.health.v1 Check answers SERVING", async () => {
    const require2 = createRequire(import.meta.url);
    const { protoPath } = require2("grpc-health-check") as { protoPath: string };
    const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(protoPath, { enums: String })) as any;
    const client = new pkg.grpc.health.v1.Health(t.address, grpc.credentials.createInsecure());
    const res = await new Promise<any>((resolve, reject) => client.Check({ service: "" }, (e: unknown, r: unknown) => (e ? reject(e) : resolve(r))));
    client.close();
    expect(res.status).toBe("SERVING");
  });
});
