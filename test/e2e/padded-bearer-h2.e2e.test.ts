import { describe, expect, it } from "vitest";
import { paddedHeadersKept } from "../support/padded-headers.js";
import { httpRequest } from "../support/authz.js";
import { h2Exchange } from "../support/h2-request.js";
import { useTestApp } from "../support/test-app.js";

/**
 * A bearer credential padded with whitespace (`Authorization: "Bearer <token> "`, a gateway that
 * builds the header from variables) is the same credential over HTTP/2 as over HTTP/1.1. HTTP/1.1
 * strips the whitespace around a value; since the HTTP/2 server keeps such values
 * (strictFieldWhitespaceValidation: false) the gateway headers of /authz were trimmed the same way,
 * but the Authorization header itself was read raw: /authz answered 401 "malformed bearer
 * credential" (or "bearer token required") over HTTP/2 where HTTP/1.1 answered 200, and POST
 * /api/v1/sessions 401 where HTTP/1.1 issued the session. A padded wrong or malformed credential
 * stays refused on both. Real node:http2 client (h2c prior knowledge) and node:http, real service.
 */
const supported = paddedHeadersKept("padded-bearer-h2");

const PADS = (v: string) => [` ${v}`, `${v} `, `\t${v}`, `${v}\t`, ` ${v}\t`, `  ${v}  `];

describe.skipIf(!supported)("a padded bearer credential, HTTP/2 as HTTP/1.1", () => {
  const t = useTestApp();

  it("/authz: a padded valid token is allowed on both; a padded unknown or malformed one refused on both", async () => {
    const { token } = await t.grpc.createKey({ tenantId: "acme", label: "padded" }, { bearer: t.adminKey });
    const both = async (authorization: string) => {
      const h1 = await httpRequest(t.port, "/authz", { headers: { authorization } });
      const h2 = await h2Exchange(t.port, { ":method": "GET", ":path": "/authz", authorization });
      return { h1: h1.status, h2: h2.status, tenant: h2.headers["x-warpflow-tenant-id"] };
    };
    for (const v of PADS(`Bearer ${token}`))
      expect(await both(v), JSON.stringify(v.replace(token, "<token>"))).toEqual({ h1: 200, h2: 200, tenant: "acme" });
    const unknown = `${token.slice(0, -1)}${token.endsWith("A") ? "B" : "A"}`;
    for (const v of [...PADS(`Bearer ${unknown}`), ...PADS(`Bearer ${token} x`), "   ", "\t"])
      expect(await both(v), JSON.stringify(v.replace(token, "<token>"))).toMatchObject({ h1: 401, h2: 401 });
  });

  it("POST /api/v1/sessions: a padded admin key issues a session on both; a padded tenant key is refused on both", async () => {
    const { token: tenantKey } = await t.grpc.createKey({ tenantId: "acme", label: "t" }, { bearer: t.adminKey });
    const both = async (authorization: string) => {
      const headers = { authorization, "content-type": "application/json" };
      const body = '{"tenant_id":"acme"}';
      const h1 = await httpRequest(t.port, "/api/v1/sessions", { method: "POST", headers, body });
      const h2 = await h2Exchange(t.port, { ":method": "POST", ":path": "/api/v1/sessions", ...headers }, body);
      return { h1: h1.status, h2: h2.status };
    };
    for (const v of PADS(`Bearer ${t.adminKey}`))
      expect(await both(v), JSON.stringify(v.replace(t.adminKey, "<admin>"))).toEqual({ h1: 200, h2: 200 });
    for (const v of PADS(`Bearer ${tenantKey}`))
      expect(await both(v), JSON.stringify(v.replace(tenantKey, "<tenant key>"))).toEqual({ h1: 403, h2: 403 });
    for (const v of [...PADS(`Bearer ${t.adminKey}x`), "   "])
      expect(await both(v), JSON.stringify(v.replace(t.adminKey, "<admin>"))).toEqual({ h1: 401, h2: 401 });
  });
});
