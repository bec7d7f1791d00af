import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bufCurl, responseHttpVersions } from "../support/buf-curl.js";
import { createTestPki, hasOpenssl } from "../support/certs.js";
import { startTestApp, type TestApp, useTestApp } from "../support/test-app.js";

/**
 * The client matrix with buf curl: protocol {grpc, grpcweb, connect} x transport {HTTP/1.1, h2c,
 * TLS with ALPN h2} x schema source {server reflection, the proto files}, for Introspect and an
 * admin RPC (ListKeys). Every answer is checked, and so is the HTTP version buf curl reports
 * (-v). Two kinds of cell cannot be HTTP/1.1, by protocol: gRPC needs HTTP/2, and server
 * reflection is a bidi stream. For an http:// URL buf curl then switches to h2c by itself
 * ("implies --http2-prior-knowledge"); those cells assert that switch. See docs/clients.md.
 */
const opensslMissing = !hasOpenssl();
if (opensslMissing)
  console.log("client matrix: TLS cells skipped: the openssl CLI (used to make test certificates) is not installed");

let tls: TestApp | undefined;
let key: { token: string; id: string };
let tlsKey: { token: string; id: string } | undefined;
const plain = useTestApp();
beforeAll(async () => {
  const k = await plain.grpc.createKey({ tenantId: "matrix", label: "matrix" }, { bearer: plain.adminKey });
  key = { token: k.token, id: k.key!.id };
  if (!opensslMissing) {
    const pki = createTestPki();
    tls = await startTestApp({ env: { TLS_CERT_FILE: pki.serverCertFile, TLS_KEY_FILE: pki.serverKeyFile } });
    const { createGrpcTokenClient } = await import("../support/grpc-client.js");
    const grpc = await import("@grpc/grpc-js");
    const client = createGrpcTokenClient(tls.address, grpc.credentials.createSsl(pki.ca), {
      "grpc.ssl_target_name_override": "localhost",
    });
    const t = await client.createKey({ tenantId: "matrix", label: "matrix" }, { bearer: tls.adminKey });
    tlsKey = { token: t.token, id: t.key!.id };
    client.close();
  }
}, 30_000);
afterAll(async () => {
  await plain?.close();
  await tls?.close();
});
type Protocol = "grpc" | "grpcweb" | "connect";
type Transport = "http1.1" | "h2c" | "tls-h2";
type Schema = "reflection" | "proto";
const cells: [Protocol, Transport, Schema][] = [];
for (const p of ["grpc", "grpcweb", "connect"] as const)
  for (const tr of ["http1.1", "h2c", "tls-h2"] as const)
    for (const s of ["reflection", "proto"] as const) cells.push([p, tr, s]);

/** HTTP/1.1 is impossible for the gRPC protocol and for reflection: buf curl uses h2c instead. */
const expectedHttpVersion = (p: Protocol, tr: Transport, s: Schema) =>
  tr === "http1.1" && p !== "grpc" && s === "proto" ? "HTTP/1.1" : "HTTP/2.0";

describe.each(cells)("buf curl --protocol %s over %s, schema from %s", (protocol, transport, schema) => {
  const run = async (method: string, body: object, bearer?: string) => {
    const app = transport === "tls-h2" ? tls! : plain;
    const base = transport === "tls-h2" ? `https://localhost:${app.port}` : app.baseUrl;
    const args = ["-v", "--protocol", protocol, ...(schema === "proto" ? ["--schema", "proto"] : [])];
    if (transport === "h2c") args.push("--http2-prior-knowledge");
    if (transport === "tls-h2") args.push("--insecure");
    if (bearer) args.push("-H", `authorization: Bearer ${bearer}`);
    const r = await bufCurl([...args, "-d", JSON.stringify(body), `${base}/warpflow.auth.v1.TokenService/${method}`]);
    expect(
      r.code,
      r.stderr
        .split("\n")
        .filter((l) => !l.includes("uthorization"))
        .slice(-3)
        .join("\n"),
    ).toBe(0);
    const versions = responseHttpVersions(r.stderr);
    expect(versions.length).toBeGreaterThan(0);
    expect(new Set(versions)).toEqual(new Set([expectedHttpVersion(protocol, transport, schema)]));
    if (transport !== "tls-h2" && expectedHttpVersion(protocol, transport, schema) === "HTTP/2.0") {
      expect(r.stderr).toContain("Using HTTP/2 prior knowledge over plain-text (h2c)");
    }
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON a client program printed, checked by the assertions
    return JSON.parse(r.stdout) as Record<string, any>;
  };

  it.skipIf(transport === "tls-h2" && opensslMissing)(
    "Introspect and ListKeys answer as over every other path",
    async () => {
      const app = transport === "tls-h2" ? tls! : plain;
      const k = transport === "tls-h2" ? tlsKey! : key;
      expect(await run("Introspect", { token: k.token, expected_tenant_id: "matrix" })).toMatchObject({
        active: true,
        tokenType: "TOKEN_TYPE_API_KEY",
        tenantId: "matrix",
        keyId: k.id,
      });
      const listed = await run("ListKeys", { tenant_id: "matrix" }, app.adminKey);
      expect(listed.keys.map((x: { id: string }) => x.id)).toEqual([k.id]);
    },
  );
});
