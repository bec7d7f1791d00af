import { describe, expect, it } from "vitest";
import { createCognitoJwtVerifier } from "../../src/adapters/cognito/cognito-jwt-verifier.js";
import { createLogger } from "../../src/app/logger.js";
import { loadConfig } from "../../src/config.js";
import { grantableScopes, requireWithinCreator } from "../../src/domain/key-scopes.js";
import { failureOf } from "../support/codes.js";
import {
  cognitoClaims,
  cognitoEnv,
  createTestKey,
  jwksOf,
  signJwt,
  writeTempJson,
  type TestKey,
} from "../support/jwt.js";
import { useTestApp } from "../support/test-app.js";

/**
 * A Cognito tenant admin whose access token carries a `scope` claim is a scoped credential, as
 * Introspect already treats that token: it mints no key wider than its claim, like a scoped admin
 * key (review finding, session 32: the claim was dropped for admins, so an admin limited to
 * reports:read could mint a key with full tenant access). Over the real gRPC API with locally
 * signed JWTs (cacheJwks from COGNITO_JWKS_FILE: no network).
 */
let key: TestKey;
const t = useTestApp(async () => {
  key = createTestKey();
  const env = cognitoEnv(writeTempJson(jwksOf(key)));
  const jwt = await createCognitoJwtVerifier(loadConfig(env).cognito!, createLogger("silent"));
  return { env, jwt };
});
const admin = (scope: string | undefined, sub = "cognito-admin-0001") => ({
  bearer: signJwt(key, cognitoClaims({ tenantId: "acme", sub, groups: ["tenant-admins"], extra: { scope } })),
});
const platform = () => ({ bearer: t.adminKey });
const DENIED = "PERMISSION_DENIED";

describe("a scoped Cognito admin mints no key wider than its scope claim", () => {
  const scoped = () => admin("reports:read contacts:read https://api.example.com/read");

  it("CreateKey asking for a scope the claim lacks: PERMISSION_DENIED, naming no scope", async () => {
    const f = await failureOf(t.grpc.createKey({ tenantId: "acme", label: "wide", scopes: ["deals:write"] }, scoped()));
    expect(f).toEqual({ code: DENIED, details: "scopes: asks for a scope the calling credential does not hold" });
  });

  it("CreateKey asking for none: the claim's scopes a key can hold (not full tenant access)", async () => {
    const r = await t.grpc.createKey({ tenantId: "acme", label: "mine" }, scoped());
    expect(r.key!.scopes).toEqual(["reports:read", "contacts:read"]);
    const subset = await t.grpc.createKey({ tenantId: "acme", label: "sub", scopes: ["reports:read"] }, scoped());
    expect(subset.key!.scopes).toEqual(["reports:read"]);
    for (const k of [r, subset]) await t.grpc.revokeKey({ tenantId: "acme", keyId: k.key!.id }, platform());
  });

  it("RotateKey: an unscoped key's successor must be narrowed to the claim, else PERMISSION_DENIED", async () => {
    const wide = await t.grpc.createKey({ tenantId: "acme", label: "unscoped" }, platform());
    const f = await failureOf(t.grpc.rotateKey({ tenantId: "acme", keyId: wide.key!.id }, scoped()));
    expect(f.code).toBe(DENIED);
    expect(f.details).toMatch(/^scopes: a scoped credential may only mint keys holding a subset of its own scopes$/);
    const narrowed = await t.grpc.rotateKey(
      { tenantId: "acme", keyId: wide.key!.id, scopes: { scopes: ["contacts:read"] } },
      scoped(),
    );
    expect(narrowed.key!.scopes).toEqual(["contacts:read"]);
    await t.grpc.revokeKey({ tenantId: "acme", keyId: narrowed.key!.id }, platform());
    await t.grpc.revokeKey({ tenantId: "acme", keyId: wide.key!.id }, platform());
  });

  it("a claim naming no scope a key can hold, or nothing at all, mints nothing", async () => {
    for (const scope of ["https://api.example.com/read", ""]) {
      const f = await failureOf(
        t.grpc.createKey({ tenantId: "acme", label: "none" }, admin(scope, "cognito-admin-0002")),
      );
      expect(f.code).toBe(DENIED);
      expect(f.details).toMatch(/^scopes: the calling credential is scoped and holds no scopes a key can hold/);
    }
  });

  it("an admin token without a scope claim (an ID token) is unscoped, as before", async () => {
    const r = await t.grpc.createKey({ tenantId: "acme", label: "full" }, admin(undefined, "cognito-admin-0003"));
    expect(r.key!.scopes).toEqual([]);
    await t.grpc.revokeKey({ tenantId: "acme", keyId: r.key!.id }, platform());
  });
});

describe("the rule, in the domain", () => {
  it("[] holds none: grants nothing, and no successor is within it", () => {
    expect(() => grantableScopes([], undefined)).toThrow(/holds no scopes a key can hold/);
    expect(() => grantableScopes([], ["a"])).toThrow(/does not hold/);
    expect(() => requireWithinCreator([], ["a"])).toThrow(/subset of its own/);
    expect(() => requireWithinCreator([], undefined)).toThrow(/subset of its own/);
    expect(grantableScopes(undefined, undefined)).toBeUndefined();
    expect(grantableScopes(["a", "https://x/y"], undefined)).toEqual(["a"]);
  });
});
