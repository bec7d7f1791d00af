import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { createCognitoJwtVerifier } from "../../src/adapters/cognito/cognito-jwt-verifier.js";
import { createLogger } from "../../src/app/logger.js";
import { loadConfig } from "../../src/config.js";
import { InactiveReason, TokenType } from "../../src/gen/warpflow/auth/v1/token_service_pb.js";
import type { JwtVerifier } from "../../src/ports/jwt-verifier.js";
import {
  cognitoClaims,
  cognitoEnv,
  createTestKey,
  jwksOf,
  signJwt,
  writeTempJson,
  type TestKey,
} from "../support/jwt.js";
import { createManualClock, type ManualClock } from "../support/manual-clock.js";
import { useTestApp } from "../support/test-app.js";

/**
 * Introspect of Cognito JWTs through the whole service (gRPC), with the real Cognito adapter
 * wrapped to count verifications, and a manual clock for expiry.
 */
let key: TestKey;
let clock: ManualClock;
let verifications = 0;

const t = useTestApp(async () => {
  key = createTestKey();
  const env = cognitoEnv(writeTempJson(jwksOf(key)));
  const cognito = await createCognitoJwtVerifier(loadConfig(env).cognito!, createLogger("silent"));
  const counting: JwtVerifier = {
    ready: () => cognito.ready(),
    verify: (token) => {
      verifications++;
      return cognito.verify(token);
    },
  };
  clock = createManualClock(new Date());
  return { env, jwt: counting, clock };
});

const jwt = (tenantId: string, over: Parameters<typeof cognitoClaims>[0] = {}) =>
  signJwt(key, cognitoClaims({ tenantId, ...over }));

describe("Cognito JWT introspection", () => {
  it("caches a verified JWT: repeated Introspect calls verify the signature once", async () => {
    clock.set(new Date());
    const token = jwt("acme", { sub: "cache-user-0001" });
    const before = verifications;
    for (let i = 0; i < 5; i++) {
      expect(await t.grpc.introspect({ token })).toMatchObject({
        active: true,
        tokenType: TokenType.COGNITO,
        tenantId: "acme",
      });
    }
    expect(verifications - before).toBe(1);
  });

  it("never lets the cache carry a JWT past its exp", async () => {
    clock.set(new Date());
    const token = jwt("acme", { sub: "cache-user-0002", expiresIn: 90 });
    const before = verifications;
    expect((await t.grpc.introspect({ token })).active).toBe(true);
    clock.advance(88_000);
    expect((await t.grpc.introspect({ token })).active).toBe(true);
    clock.advance(3_000); // past exp, while the cache entry (real-time TTL) is still there
    expect(await t.grpc.introspect({ token })).toMatchObject({
      active: false,
      inactiveReason: InactiveReason.EXPIRED,
      tenantId: "",
    });
    expect(verifications - before).toBe(1);
  });

  it("rejected JWTs are inactive with their reason (and not re-verified on every call)", async () => {
    clock.set(new Date());
    const expired = jwt("acme", { expiresIn: -5 });
    expect((await t.grpc.introspect({ token: expired })).inactiveReason).toBe(InactiveReason.EXPIRED);
    const forged = signJwt(createTestKey(key.kid), cognitoClaims({ tenantId: "acme" }));
    const before = verifications;
    expect((await t.grpc.introspect({ token: forged })).inactiveReason).toBe(InactiveReason.UNVERIFIED);
    expect((await t.grpc.introspect({ token: forged })).inactiveReason).toBe(InactiveReason.UNVERIFIED);
    expect(verifications - before).toBe(1);
  });

  it("checks expected_tenant_id", async () => {
    clock.set(new Date());
    const token = jwt("acme");
    expect((await t.grpc.introspect({ token, expectedTenantId: "acme" })).active).toBe(true);
    expect((await t.grpc.introspect({ token, expectedTenantId: "globex" })).inactiveReason).toBe(
      InactiveReason.TENANT_MISMATCH,
    );
  });

  it("a HIPAA tenant's JWT stays active (Cognito is how HIPAA tenants log in), while its API keys do not", async () => {
    clock.set(new Date());
    const admin = { bearer: t.adminKey };
    const { token: apiKey } = await t.grpc.createKey({ tenantId: "clinic", label: "before HIPAA" }, admin);
    await t.grpc.setTenantPolicy({ tenantId: "clinic", hipaaEnabled: true }, admin);
    const token = jwt("clinic", { groups: ["tenant-admins"] });
    expect(await t.grpc.introspect({ token })).toMatchObject({
      active: true,
      tokenType: TokenType.COGNITO,
      tenantId: "clinic",
    });
    expect((await t.grpc.introspect({ token: apiKey })).inactiveReason).toBe(InactiveReason.TENANT_POLICY);
    // its dashboard admin still sees the keys, but cannot mint new ones on a HIPAA tenant
    expect((await t.grpc.listKeys({ tenantId: "clinic" }, { bearer: token })).keys).toHaveLength(1);
    await expect(t.grpc.createKey({ tenantId: "clinic", label: "after" }, { bearer: token })).rejects.toMatchObject({
      code: status.FAILED_PRECONDITION,
    });
  });
});
