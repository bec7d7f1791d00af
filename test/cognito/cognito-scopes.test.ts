import { afterAll, describe, expect, it } from "vitest";
import { createCognitoJwtVerifier } from "../../src/adapters/cognito/cognito-jwt-verifier.js";
import { createLogger } from "../../src/app/logger.js";
import { createTokenClient, type TokenClient } from "../../src/client/index.js";
import { loadConfig } from "../../src/config.js";
import { InactiveReason } from "../../src/gen/warpflow/auth/v1/token_service_pb.js";
import { httpRequest } from "../support/authz.js";
import {
  cognitoClaims,
  cognitoEnv,
  createTestKey,
  jwksOf,
  signJwt,
  writeTempJson,
  type TestKey,
} from "../support/jwt.js";
import { waitUntil } from "../support/poll.js";
import { useTestApp } from "../support/test-app.js";

/**
 * Issue 22: a Cognito access token's `scope` claim is answered as its scopes and checked against
 * required scopes like a key's; an ID token (no claim) is unscoped; a claim naming nothing usable
 * is not accepted (fails closed), in the service and in the client library.
 */
let key: TestKey;
const t = useTestApp(async () => {
  key = createTestKey();
  const env = cognitoEnv(writeTempJson(jwksOf(key)));
  const jwt = await createCognitoJwtVerifier(loadConfig(env).cognito!, createLogger("silent"));
  return { env: { ...env, WATCH_HEARTBEAT_MS: "50" }, jwt };
});
let client: TokenClient | undefined;
afterAll(() => client?.close());

const jwt = (over: Parameters<typeof cognitoClaims>[0] = {}) =>
  signJwt(key, cognitoClaims({ tenantId: "acme", ...over }));

describe("Cognito scope claim (issue 22)", () => {
  it("answers the access token's scope claim and checks required scopes against it", async () => {
    const token = jwt({
      sub: "scoped-user-0001",
      extra: { scope: "openid reports:read https://api.example.com/read" },
    });
    for (let i = 0; i < 2; i++) {
      const a = await t.grpc.introspect({ token });
      expect(a.scopes).toEqual(["openid", "reports:read", "https://api.example.com/read"]);
      expect((await t.grpc.introspect({ token, requiredScopes: ["https://api.example.com/read"] })).active).toBe(true);
      expect((await t.grpc.introspect({ token, requiredScopes: ["deals:write"] })).inactiveReason).toBe(
        InactiveReason.INSUFFICIENT_SCOPE,
      );
    }
    const authz = await httpRequest(t.port, "/authz", {
      headers: { authorization: `Bearer ${token}`, "x-warpflow-required-scopes": "reports:read" },
    });
    expect([authz.status, authz.headers["x-warpflow-scopes"]]).toEqual([
      200,
      "openid reports:read https://api.example.com/read",
    ]);
  });

  it("a token without a scope claim is unscoped, any required scope held; an empty claim is not accepted", async () => {
    const id = jwt({ sub: "id-user-000001", extra: { scope: undefined } });
    const a = await t.grpc.introspect({ token: id, requiredScopes: ["anything"] });
    expect([a.active, a.scopes]).toEqual([true, []]);
    // An empty claim holds no scope, which no answer can say (scope-claim-naming-nothing.test.ts).
    const empty = jwt({ sub: "empty-user-0001", extra: { scope: "" } });
    expect((await t.grpc.introspect({ token: empty })).inactiveReason).toBe(InactiveReason.UNVERIFIED);
    client = createTokenClient({ address: t.address });
    await waitUntil(() => client!.state().healthy, 5000, "client healthy");
    expect((await client.introspect(empty, { requiredScopes: ["x"] })).inactiveReason).toBe(InactiveReason.UNVERIFIED);
    expect((await client.introspect(id, { requiredScopes: ["x"] })).active).toBe(true);
  });
});
