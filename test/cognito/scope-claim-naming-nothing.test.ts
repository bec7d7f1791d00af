import { afterAll, describe, expect, it } from "vitest";
import { createCognitoJwtVerifier } from "../../src/adapters/cognito/cognito-jwt-verifier.js";
import { createLogger } from "../../src/app/logger.js";
import { loadConfig } from "../../src/config.js";
import { InactiveReason } from "../../src/gen/warpflow/auth/v1/token_service_pb.js";
import { httpRequest } from "../support/authz.js";
import { checkRequest, createGrpcCheckClient } from "../support/grpc-check-client.js";
import { type TestKey, cognitoClaims, cognitoKeyEnv, signJwt } from "../support/jwt.js";
import { useTestApp } from "../support/test-app.js";

/**
 * A Cognito token whose `scope` claim is present but names no scope this service can carry (empty,
 * blank, only malformed or over-long scope-tokens) holds no scope. No door can say "holds none":
 * Introspect's `scopes`, /authz's x-warpflow-scopes, Check's headers and metadata and RFC 7662's
 * `scope` all say "no scopes" for an unscoped token (full tenant access). So such a token must not
 * be answered active anywhere: it would read as the least restricted token there is. A `scope` of
 * another type than a string proves nothing either.
 */
const SECRET = "gateway+secret-0123456789abcdefghij";
let key: TestKey;
const t = useTestApp(async () => {
  const c = cognitoKeyEnv();
  key = c.key;
  const env = c.env;
  const jwt = await createCognitoJwtVerifier(loadConfig(env).cognito!, createLogger("silent"));
  return { env: { ...env, OAUTH2_INTROSPECT_CLIENTS: `gateway:${SECRET}` }, jwt };
});
let checker: ReturnType<typeof createGrpcCheckClient> | undefined;
afterAll(() => checker?.close());

const token = (scope: unknown, sub: string) => signJwt(key, cognitoClaims({ tenantId: "acme", sub, extra: { scope } }));

const NOTHING_USABLE: [string, unknown][] = [
  ["empty", ""],
  ["blank", "   "],
  ["a tab", "\t"],
  ["only non-ASCII scope-tokens", "lire:\u00e9crire \u00fcber"],
  ["only a scope-token over 128 characters", `https://api.example.com/${"r".repeat(120)}`],
  ["only quotes and backslashes", '"read" \\write\\'],
];
const NOT_A_STRING: [string, unknown][] = [
  ["an array", ["reports:read"]],
  ["an empty array", []],
  ["a number", 7],
  ["an object", { read: true }],
  ["null", null],
];

describe("a Cognito scope claim that names no usable scope is never answered unscoped", () => {
  it.each([...NOTHING_USABLE, ...NOT_A_STRING])("%s: inactive on every door", async (name, scope) => {
    const jwt = token(scope, `user-${name.replace(/\W/g, "-")}`);
    checker ??= createGrpcCheckClient(t.address);
    for (let i = 0; i < 2; i++) {
      // Was: 200 with no x-warpflow-scopes (read upstream as full tenant access).
      const authz = await httpRequest(t.port, "/authz", { headers: { authorization: `Bearer ${jwt}` } });
      expect([authz.status, authz.headers["x-warpflow-tenant-id"], authz.headers["x-warpflow-scopes"]]).toEqual([
        401,
        undefined,
        undefined,
      ]);
      const a = await t.grpc.introspect({ token: jwt });
      expect([a.active, a.inactiveReason]).toEqual([false, InactiveReason.UNVERIFIED]);
      const check = await checker.check(checkRequest({ authorization: `Bearer ${jwt}` }, { tenant_id: "acme" }));
      expect(check.ok && check.response.status?.code).toBe(16); // UNAUTHENTICATED, a denied_response
      const rfc7662 = await httpRequest(t.port, "/oauth2/introspect", {
        method: "POST",
        headers: {
          authorization: `Basic ${Buffer.from(`gateway:${SECRET}`).toString("base64")}`,
          "content-type": "application/x-www-form-urlencoded",
        },
        body: `token=${encodeURIComponent(jwt)}`,
      });
      expect([rfc7662.status, JSON.parse(rfc7662.body)]).toEqual([200, { active: false }]);
    }
  });

  it("a claim with one usable scope among unusable ones holds that one, and says so on every door", async () => {
    const jwt = token("  lire:\u00e9crire reports:read  ", "user-partly-usable");
    const a = await t.grpc.introspect({ token: jwt });
    expect([a.active, a.scopes]).toEqual([true, ["reports:read"]]);
    const authz = await httpRequest(t.port, "/authz", { headers: { authorization: `Bearer ${jwt}` } });
    expect([authz.status, authz.headers["x-warpflow-scopes"]]).toEqual([200, "reports:read"]);
  });

  it("an admin-group token whose scope claim names nothing is refused admin calls too (Introspect and admin agree)", async () => {
    const jwt = signJwt(
      key,
      cognitoClaims({ tenantId: "acme", sub: "admin-empty-scope", groups: ["tenant-admins"], extra: { scope: "" } }),
    );
    await expect(t.grpc.listKeys({ tenantId: "acme" }, { bearer: jwt })).rejects.toMatchObject({ code: 16 });
  });
});
