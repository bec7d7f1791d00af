import { beforeAll, describe, expect, it } from "vitest";
import { parseHttp1Response, rawExchange } from "../support/raw-socket.js";
import { useTestApp } from "../support/test-app.js";

/**
 * HTTP/1.1 requests with more than 1,000 header fields (9 KB of short ones, under MAX_HEADER_BYTES):
 * Node kept the first 1,000 and dropped the rest silently, so a field a gateway writes after the
 * client's own (Go's HTTP client, hence Caddy's forward_auth, writes them sorted by name) was
 * never seen: the tenant binding, or a second Authorization.
 */
const t = useTestApp();
let key: string;
beforeAll(async () => {
  key = (await t.grpc.createKey({ tenantId: "acme", label: "count" }, { bearer: t.adminKey })).token;
});

const padding = (n: number) => Array.from({ length: n }, (_, i) => `b${i}: x\r\n`).join("");

async function authz(fields: string): Promise<{ status: number; body: string }> {
  const ex = await rawExchange(t.port, [`GET /authz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n${fields}\r\n`], 5000);
  return parseHttp1Response(ex.data.toString("latin1"));
}

describe("HTTP/1.1 header fields past the 1,000th", () => {
  it("a tenant binding after 1,200 client fields still binds: 403 for another tenant's key", async () => {
    const fields = `authorization: Bearer ${key}\r\n${padding(1200)}x-warpflow-expected-tenant-id: globex\r\n`;
    expect(Buffer.byteLength(fields)).toBeLessThan(16_384);
    expect((await authz(fields)).status).toBe(403);
    // The same request with the binding first: the control.
    expect(
      (await authz(`x-warpflow-expected-tenant-id: globex\r\nauthorization: Bearer ${key}\r\n${padding(1200)}`)).status,
    ).toBe(403);
  });

  it("a second Authorization after 1,200 fields is counted: no credential", async () => {
    const res = await authz(`authorization: Bearer ${key}\r\n${padding(1200)}authorization: Bearer ${key}\r\n`);
    expect(res.status).toBe(401);
    expect(res.body).toContain("invalid_request");
    expect(res.body).not.toContain(key);
  });

  it("headers over MAX_HEADER_BYTES are still refused with 431", async () => {
    expect((await authz(`authorization: Bearer ${key}\r\n${padding(3000)}`)).status).toBe(431);
  });
});
