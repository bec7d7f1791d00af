import { describe, expect, it } from "vitest";
import { httpRequest } from "../support/authz.js";
import { h2Exchange } from "../support/h2-request.js";
import { useTestApp, type TestApp } from "../support/test-app.js";

/**
 * A tenant binding a gateway sends must not vanish on HTTP/2. Node's HTTP/2 layer silently drops a
 * header whose value starts or ends with whitespace (Node 20; on later runtimes the server keeps
 * and trims it: authz-h2-padded-headers.e2e.test.ts), so `x-warpflow-expected-tenant-id: "other "`
 * reached /authz as no binding at all and an `acme` key was allowed (200). With
 * AUTHZ_REQUIRE_TENANT_BINDING a request without a binding is 403, and `*` is the explicit "any
 * tenant". Real node http2 client (h2c prior knowledge) and node:http, real service.
 */
const PADDED = ["other ", " other", "other\t"];

async function acmeKey(t: TestApp): Promise<string> {
  return (await t.grpc.createKey({ tenantId: "acme", label: "binding" }, { bearer: t.adminKey })).token;
}

const h2Authz = (t: TestApp, token: string, binding?: string) =>
  h2Exchange(t.port, {
    ":method": "GET",
    ":path": "/authz",
    authorization: `Bearer ${token}`,
    ...(binding === undefined ? {} : { "x-warpflow-expected-tenant-id": binding }),
  });

describe("AUTHZ_REQUIRE_TENANT_BINDING=true", () => {
  const t = useTestApp({ env: { AUTHZ_REQUIRE_TENANT_BINDING: "true" } });

  it("HTTP/2: a binding padded with whitespace (dropped by Node 20; trimmed where the server keeps it, authz-h2-padded-headers) is 403, never 200", async () => {
    const acme = await acmeKey(t);
    for (const value of PADDED) {
      const r = await h2Authz(t, acme, value);
      expect(r.status, JSON.stringify(value)).toBe(403);
      expect(String(r.headers["www-authenticate"])).toContain('error="insufficient_scope"');
      expect(r.headers["x-warpflow-tenant-id"]).toBeUndefined();
    }
  });

  it("HTTP/2: no binding is 403 (route has no tenant binding); `*` and the token's own tenant allow; another tenant 403", async () => {
    const acme = await acmeKey(t);
    const none = await h2Authz(t, acme);
    expect(none.status).toBe(403);
    expect(JSON.parse(none.body.toString())).toEqual({
      error: { code: "insufficient_scope", message: "route has no tenant binding" },
    });
    const empty = await h2Authz(t, acme, "");
    expect(empty.status).toBe(403);
    const any = await h2Authz(t, acme, "*");
    expect(any.status).toBe(200);
    expect(any.headers["x-warpflow-tenant-id"]).toBe("acme");
    expect((await h2Authz(t, acme, "acme")).status).toBe(200);
    expect((await h2Authz(t, acme, "other")).status).toBe(403);
    // No credential is still 401 (the client is told to authenticate), binding or not.
    const anon = await h2Exchange(t.port, { ":method": "GET", ":path": "/authz" });
    expect(anon.status).toBe(401);
  });

  it("HTTP/1.1: the padded values are trimmed (bound to `other`: 403); none: 403; `*`: 200", async () => {
    const acme = await acmeKey(t);
    const get = (binding?: string) =>
      httpRequest(t.port, "/authz", {
        headers: {
          authorization: `Bearer ${acme}`,
          ...(binding === undefined ? {} : { "x-warpflow-expected-tenant-id": binding }),
        },
      });
    for (const value of PADDED) expect((await get(value)).status, JSON.stringify(value)).toBe(403);
    expect((await get()).status).toBe(403);
    expect((await get("*")).status).toBe(200);
    expect((await get("acme")).status).toBe(200);
  });
});

describe("without AUTHZ_REQUIRE_TENANT_BINDING (the default, unchanged)", () => {
  const t = useTestApp();

  it("no binding allows any tenant's token, and `*` means the same", async () => {
    const acme = await acmeKey(t);
    expect((await h2Authz(t, acme)).status).toBe(200);
    expect((await h2Authz(t, acme, "*")).status).toBe(200);
    expect((await h2Authz(t, acme, "other")).status).toBe(403);
  });
});
