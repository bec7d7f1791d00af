import { execFile } from "node:child_process";
import { describe, expect, it } from "vitest";
import { bufCurl } from "../support/buf-curl.js";
import { useTestApp } from "../support/test-app.js";
import { h2Request } from "../support/h2-request.js";

/**
 * Headers a well-behaved client library would never send, from clients that send them anyway
 * (curl, buf curl, a raw HTTP/2 client). Real server on an ephemeral port.
 */
const t = useTestApp({ logLevel: "warn" });

const curl = (args: string[]) =>
  new Promise<{ status: string; body: string }>((resolve, reject) => {
    execFile("curl", ["-s", "-w", "\n%{http_code}", ...args], { timeout: 10_000 }, (err, stdout) => {
      if (err && !stdout) return reject(err as Error);
      const i = stdout.lastIndexOf("\n");
      resolve({ body: stdout.slice(0, i), status: stdout.slice(i + 1) });
    });
  });

describe("two Authorization headers are no credential, on every protocol", () => {
  // Before: Node keeps the first `authorization` header and drops the rest, so two headers carrying
  // the admin key were served as the admin (ListKeys 200, a session created); only /authz counted them.
  it("Connect over HTTP/1.1 and HTTP/2, REST, gRPC: UNAUTHENTICATED / 401", async () => {
    const auth = ["-H", `authorization: Bearer ${t.adminKey}`, "-H", `authorization: Bearer ${t.adminKey}`];
    const listKeys = [
      "-H",
      "content-type: application/json",
      "-d",
      '{"tenantId":"acme"}',
      `${t.baseUrl}/warpflow.auth.v1.TokenService/ListKeys`,
    ];
    const h1 = await curl([...auth, ...listKeys]);
    expect(h1.status).toBe("401");
    const h2 = await curl(["--http2-prior-knowledge", ...auth, ...listKeys]);
    expect(h2.status).toBe("401");
    const rest = await curl([
      ...auth,
      "-H",
      "content-type: application/json",
      "-d",
      '{"tenant_id":"acme"}',
      `${t.baseUrl}/api/v1/sessions`,
    ]);
    expect(rest.status).toBe("401");
    const grpc = await bufCurl([
      "--protocol",
      "grpc",
      "--http2-prior-knowledge",
      "--schema",
      "proto",
      "-H",
      `authorization: Bearer ${t.adminKey}`,
      "-H",
      `authorization: Bearer ${t.adminKey}`,
      "-d",
      '{"tenant_id":"acme"}',
      `${t.baseUrl}/warpflow.auth.v1.TokenService/ListKeys`,
    ]);
    expect(grpc.stdout + grpc.stderr).toContain("unauthenticated");
    // One header is still the admin.
    expect((await curl(["-H", `authorization: Bearer ${t.adminKey}`, ...listKeys])).status).toBe("200");
  });
});

describe("HTTP/2 header list over MAX_HEADER_BYTES (16 KiB) from a client that ignores the advertised limit", () => {
  // Before: Node advertised SETTINGS_MAX_HEADER_LIST_SIZE 16 KiB but served a 40 KB header (curl
  // does not hold itself to it); grpc-js clients do, which is why the gRPC test of the limit passed.
  const get = async (big: number) => {
    const a = await h2Request(t.baseUrl, { ":method": "GET", ":path": "/healthz", "x-big": "a".repeat(big) }, "").done;
    return a.headers[":status"] !== undefined ? String(a.headers[":status"]) : (a.errorCode ?? `reset ${a.rstCode}`);
  };

  it("curl: 40 KB refused (stream reset), 12 KB served", async () => {
    const big = await curl([
      "--http2-prior-knowledge",
      "-o",
      "/dev/null",
      "-H",
      `x-big: ${"a".repeat(40_000)}`,
      `${t.baseUrl}/healthz`,
    ]);
    expect(big.status).not.toBe("200");
    const small = await curl([
      "--http2-prior-knowledge",
      "-o",
      "/dev/null",
      "-H",
      `x-big: ${"a".repeat(12_000)}`,
      `${t.baseUrl}/healthz`,
    ]);
    expect(small.status).toBe("200");
    expect(await get(12_000)).toBe("200"); // and from Node's own client
  });
});
