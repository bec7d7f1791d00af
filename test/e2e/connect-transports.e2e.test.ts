import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { describe, expect, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus as Status } from "../../src/gen/grpc/health/v1/health_pb.js";
import { TokenService, TokenType } from "../../src/gen/warpflow/auth/v1/token_service_pb.js";
import { reflect } from "../support/reflection.js";
import { useTestApp } from "../support/test-app.js";

/**
 * Every connect-es transport against the one port: Connect (JSON and binary) and gRPC-Web over
 * HTTP/1.1 and HTTP/2 (h2c), gRPC over HTTP/2. Same answers, same error codes, same health and
 * reflection services on each. Bidi streams (reflection) need HTTP/2: over HTTP/1.1 the
 * server answers 505 HTTP Version Not Supported.
 */
const t = useTestApp();

const transports: [string, "1.1" | "2", () => Transport][] = [
  ["createConnectTransport (JSON)", "1.1", () => createConnectTransport({ baseUrl: t.baseUrl, httpVersion: "1.1" })],
  [
    "createConnectTransport (binary)",
    "1.1",
    () => createConnectTransport({ baseUrl: t.baseUrl, httpVersion: "1.1", useBinaryFormat: true }),
  ],
  ["createConnectTransport (JSON)", "2", () => createConnectTransport({ baseUrl: t.baseUrl, httpVersion: "2" })],
  [
    "createConnectTransport (binary)",
    "2",
    () => createConnectTransport({ baseUrl: t.baseUrl, httpVersion: "2", useBinaryFormat: true }),
  ],
  ["createGrpcTransport", "2", () => createGrpcTransport({ baseUrl: t.baseUrl })],
  ["createGrpcWebTransport", "1.1", () => createGrpcWebTransport({ baseUrl: t.baseUrl, httpVersion: "1.1" })],
  ["createGrpcWebTransport", "2", () => createGrpcWebTransport({ baseUrl: t.baseUrl, httpVersion: "2" })],
];

describe.each(transports)("%s over HTTP/%s", (name, httpVersion, transport) => {
  const tenant = `ct-${name.includes("Web") ? "web" : name.includes("Grpc") ? "grpc" : "connect"}-${httpVersion === "2" ? "h2" : "h1"}-${name.includes("binary") ? "bin" : "json"}`;

  it("CreateKey, Introspect and ListKeys answer; a missing credential is UNAUTHENTICATED", async () => {
    const client = createClient(TokenService, transport());
    const auth = { headers: { authorization: `Bearer ${t.adminKey}` } };
    const { token, key } = await client.createKey({ tenantId: tenant, label: name }, auth);
    expect(await client.introspect({ token, expectedTenantId: tenant })).toMatchObject({
      active: true,
      tokenType: TokenType.API_KEY,
      tenantId: tenant,
      keyId: key!.id,
    });
    expect((await client.listKeys({ tenantId: tenant }, auth)).keys.map((k) => k.id)).toEqual([key!.id]);
    const err = await client.listKeys({ tenantId: tenant }).catch((e: unknown) => e);
    expect(ConnectError.from(err).code).toBe(Code.Unauthenticated);
    const empty = await client.introspect({ token: "" }).catch((e: unknown) => e);
    expect(ConnectError.from(empty).code).toBe(Code.InvalidArgument);
  });

  it("grpc.health.v1 Check and Watch", async () => {
    const health = createClient(Health, transport());
    expect((await health.check({ service: "warpflow.auth.v1.TokenService" })).status).toBe(Status.SERVING);
    for await (const r of health.watch({ service: "" }, { timeoutMs: 5000 })) {
      expect(r.status).toBe(Status.SERVING);
      break;
    }
  });

  it(
    httpVersion === "2"
      ? "server reflection v1 lists the services"
      : "server reflection (a bidi stream) is refused over HTTP/1.1",
    async () => {
      const answer = reflect(transport(), "v1", [{ case: "listServices", value: "" }]);
      if (httpVersion === "2") {
        const [a] = await answer;
        expect(a?.case === "services" && a.services).toContain("warpflow.auth.v1.TokenService");
      } else {
        const err = ConnectError.from(await answer.catch((e: unknown) => e));
        // connect-node answers a bidi call on HTTP/1.1 with 505 HTTP Version Not Supported.
        expect([err.code, err.rawMessage]).toEqual([Code.Unknown, "HTTP 505"]);
      }
    },
  );
});
