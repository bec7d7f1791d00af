import { describe, expect, it } from "vitest";
import { paddedHeadersKept } from "../support/padded-headers.js";
import { httpRequest } from "../support/authz.js";
import { h2Exchange } from "../support/h2-request.js";
import { useTestApp } from "../support/test-app.js";

/**
 * The same /authz question answers the same over HTTP/1.1 and HTTP/2 when a gateway pads a header
 * value with whitespace (nginx: "$route_scope $extra_scope" with $extra_scope empty leaves a
 * trailing space). HTTP/1.1 strips it. Over HTTP/2, nghttp2's strict RFC 9113 rule dropped the
 * whole header: `x-warpflow-required-scopes: "deals:write "` reached /authz as no requirement, and
 * a key without that scope was allowed (200 where HTTP/1.1 answers 403). The server now turns that
 * rule off (Node 22.17+ / 24.2+) and trims as HTTP/1.1 does. Real node:http2 client (h2c prior
 * knowledge) and node:http, real service.
 */
const supported = paddedHeadersKept("authz-h2-padded-headers");

describe.skipIf(!supported)("/authz: gateway headers padded with whitespace, HTTP/2 as HTTP/1.1", () => {
  const t = useTestApp();
  const both = async (token: string, headers: Record<string, string>) => {
    const h1 = await httpRequest(t.port, "/authz", { headers: { authorization: `Bearer ${token}`, ...headers } });
    const h2 = await h2Exchange(t.port, {
      ":method": "GET",
      ":path": "/authz",
      authorization: `Bearer ${token}`,
      ...headers,
    });
    return { h1: h1.status, h2: h2.status, h2Headers: h2.headers };
  };

  it("a key lacking a required scope sent with padding is refused (403) over HTTP/2 as over HTTP/1.1", async () => {
    const { token } = await t.grpc.createKey(
      { tenantId: "acme", label: "scoped", scopes: ["contacts:read"] },
      { bearer: t.adminKey },
    );
    for (const required of ["deals:write ", " deals:write", "deals:write\t", "contacts:read deals:write "]) {
      const r = await both(token, { "x-warpflow-required-scopes": required });
      expect(r, JSON.stringify(required)).toMatchObject({ h1: 403, h2: 403 });
    }
    // The scope it has, padded: allowed on both.
    expect(await both(token, { "x-warpflow-required-scopes": " contacts:read " })).toMatchObject({ h1: 200, h2: 200 });
  });

  it("a padded tenant binding is that tenant on both (another tenant's key 403, its own 200)", async () => {
    const { token } = await t.grpc.createKey({ tenantId: "acme", label: "bound" }, { bearer: t.adminKey });
    expect(await both(token, { "x-warpflow-expected-tenant-id": "other " })).toMatchObject({ h1: 403, h2: 403 });
    const own = await both(token, { "x-warpflow-expected-tenant-id": " acme\t" });
    expect(own).toMatchObject({ h1: 200, h2: 200 });
    expect(own.h2Headers["x-warpflow-tenant-id"]).toBe("acme");
  });

  it("a key with an IP allowlist is judged on the padded client address as HTTP/1.1 judges it", async () => {
    const { token } = await t.grpc.createKey(
      { tenantId: "acme", label: "fenced", allowedCidrs: ["203.0.113.0/24"] },
      { bearer: t.adminKey },
    );
    // Outside the allowlist: denied on both (401, as for a token that does not work here).
    expect(await both(token, { "x-warpflow-client-address": "198.51.100.7 " })).toMatchObject({ h1: 401, h2: 401 });
    expect(await both(token, { "x-warpflow-client-address": " 203.0.113.9" })).toMatchObject({ h1: 200, h2: 200 });
  });
});
