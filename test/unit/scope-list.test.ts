// One reading of a gateway's scope list (review finding, session 32): /authz's
// x-warpflow-required-scopes header and Check's required_scopes context extension used different
// splitters (SP only vs SP or tab). The documented rule (README, docs/edge-auth.md: space-separated,
// RFC 6749 section 3.3) now holds for both callers, checked here on the same token.
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { create } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CheckRequestSchema } from "../../src/gen/envoy/service/auth/v3/external_auth_pb.js";
import { createAuthorizationHandlers } from "../../src/service/ext-authz-handlers.js";
import { createTokenServiceHandlers } from "../../src/service/token-service-handlers.js";
import { createForwardAuthHandler, REQUIRED_SCOPES_HEADER } from "../../src/transport/http/forward-auth.js";
import { contentTypeProblem } from "../../src/transport/http/json-http.js";
import { splitScopes } from "../../src/transport/protocol/scope-list.js";
import { mapError } from "../../src/transport/protocol/error-mapping.js";
import { httpRequest } from "../support/authz.js";
import { createDomain } from "../support/domain.js";

describe("splitScopes: space-separated, as an OAuth 2.0 scope", () => {
  it.each([
    [undefined, undefined],
    ["", undefined],
    ["   ", undefined],
    ["a", ["a"]],
    ["a b", ["a", "b"]],
    ["  a   b  ", ["a", "b"]],
    ["a b a", ["a", "b"]],
    ["a\tb", ["a\tb"]], // a tab separates nothing: the token is then refused as malformed
    ["a\t b", ["a\t", "b"]],
  ])("%j -> %j", (value, scopes) => {
    expect(splitScopes(value)).toEqual(scopes);
  });
});

describe("/authz and Check read the same list the same way", () => {
  const d = createDomain();
  const tokenService = createTokenServiceHandlers({
    introspector: d.introspector,
    admin: { audit: {} } as never /* introspect only: no admin call runs */,
  });
  const authorization = createAuthorizationHandlers({ tokenService });
  const quiet = { end() {} };
  const forwardAuth = createForwardAuthHandler(tokenService.introspect, quiet);
  const server = http.createServer((req, res) => forwardAuth(req, res));
  let token = "";
  beforeAll(async () => {
    token = (await d.keys.create("acme", "k", "test", { scopes: ["orders:read", "orders:write"] })).token;
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  type Outcome = "allowed" | "insufficient_scope" | "invalid_argument";
  async function viaAuthz(scopes: string): Promise<Outcome> {
    const { port } = server.address() as AddressInfo;
    const r = await httpRequest(port, "/authz", {
      headers: { authorization: `Bearer ${token}`, [REQUIRED_SCOPES_HEADER]: scopes },
    });
    if (r.status === 200) return "allowed";
    if (r.status === 403 && String(r.headers["www-authenticate"]).includes("insufficient_scope"))
      return "insufficient_scope";
    expect(r.status).toBe(400);
    return "invalid_argument";
  }
  async function viaCheck(scopes: string): Promise<Outcome> {
    const req = create(CheckRequestSchema, {
      attributes: {
        request: { http: { headers: { authorization: `Bearer ${token}` } } },
        contextExtensions: { required_scopes: scopes },
      },
    });
    try {
      const res = await authorization.check(req, { bearer: undefined });
      if (res.status?.code === 0) return "allowed";
      expect(res.status?.code).toBe(7); // PERMISSION_DENIED
      expect(JSON.stringify(res)).toContain("insufficient_scope");
      return "insufficient_scope";
    } catch (err) {
      expect(mapError(err).message).toMatch(/^required_scopes\[\d+\]: /);
      return "invalid_argument";
    }
  }

  it.each<[string, Outcome]>([
    ["orders:read orders:write", "allowed"],
    ["orders:read  orders:write orders:read", "allowed"],
    ["orders:read orders:delete", "insufficient_scope"],
    // A tab is no separator (RFC 6749 scope = scope-token *( SP scope-token )): one malformed token,
    // refused by both; Check used to split on it and allow.
    ["orders:read\torders:write", "invalid_argument"],
    ["orders:delete\torders:write", "invalid_argument"],
  ])("%j: %s", async (scopes, outcome) => {
    expect(await viaAuthz(scopes)).toBe(outcome);
    expect(await viaCheck(scopes)).toBe(outcome);
  });
});

describe("contentTypeProblem: the one content-type rule of the plain-HTTP endpoints", () => {
  it.each([
    ["application/json", undefined],
    ["Application/JSON; charset=UTF-8", undefined],
    ['application/json; charset="utf-8"', undefined],
    ["application/json;charset=utf8", undefined],
    ["application/json; boundary=x", undefined],
    [undefined, "type"],
    ["", "type"],
    ["application/jsonx", "type"],
    ["text/plain", "type"],
    ["application/json; charset=latin1", "charset"],
    ["application/json; charset=", "charset"],
  ])("%j -> %s", (value, problem) => {
    expect(contentTypeProblem(value, "application/json")).toBe(problem);
  });
});
