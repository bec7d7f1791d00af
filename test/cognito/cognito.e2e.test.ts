import { status } from "@grpc/grpc-js";
import { connect } from "node:net";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { InactiveReason, TokenType } from "../../src/gen/warpflow/auth/v1/token_service_pb.js";
import {
  blockNetwork,
  cognitoClaims,
  cognitoEnv,
  createTestKey,
  jwksOf,
  signJwt,
  unsignedJwt,
  writeTempJson,
  type TestKey,
} from "../support/jwt.js";
import { startTestApp, useTestApp } from "../support/test-app.js";

/**
 * End to end: the service started with COGNITO_USER_POOL_ID, COGNITO_CLIENT_ID and
 * COGNITO_JWKS_FILE introspects signed JWTs over gRPC (and Connect JSON), with outbound HTTP(S)
 * blocked for the whole file.
 */
let key: TestKey;
let network: ReturnType<typeof blockNetwork>;

const t = useTestApp(async () => {
  network = blockNetwork();
  key = createTestKey("e2e-key");
  return { env: cognitoEnv(writeTempJson(jwksOf(key)), { COGNITO_ADMIN_GROUP: "acme-admins" }) };
});
afterAll(async () => {
  network?.restore();
});
afterEach(() => {
  expect(network.attempts()).toBe(0);
});

describe("Cognito end to end", () => {
  it("starts SERVING with the file's keys and says so", () => {
    expect(t.logs.some((l) => l.includes("Cognito JWKS loaded from COGNITO_JWKS_FILE"))).toBe(true);
    expect(t.logs.some((l) => l.includes("Cognito is off"))).toBe(false);
  });

  it("introspects a signed access token over gRPC: tenant, subject, groups, expires_at, email, username", async () => {
    const claims = cognitoClaims({ tenantId: "acme", groups: ["acme-admins", "analysts"] });
    const token = signJwt(key, claims);
    const r = await t.grpc.introspect({ token });
    expect(r).toMatchObject({
      active: true,
      tokenType: TokenType.COGNITO,
      tenantId: "acme",
      subject: claims.sub,
      groups: ["acme-admins", "analysts"],
      email: "dana@acme.example",
      username: "dana",
      keyId: "",
      sessionId: "",
      admin: false,
      deprecated: false,
    });
    expect(Number(r.expiresAt!.seconds)).toBe(claims.exp);
    expect(t.logs.join("\n")).not.toContain(token.split(".")[2]);
  });

  it("answers Connect JSON (curl) the same way", async () => {
    const token = signJwt(key, cognitoClaims({ tenantId: "acme" }));
    const res = await postHttp1(t.port, "/warpflow.auth.v1.TokenService/Introspect", {
      token,
      expected_tenant_id: "acme",
    });
    expect(res).toMatch(/^HTTP\/1\.1 200/);
    expect(JSON.parse(res.slice(res.indexOf("\r\n\r\n") + 4))).toMatchObject({
      active: true,
      tokenType: "TOKEN_TYPE_COGNITO",
      tenantId: "acme",
    });
  });

  it.each([
    ["expired", () => signJwt(key, cognitoClaims({ tenantId: "acme", expiresIn: -1 })), InactiveReason.EXPIRED],
    [
      "wrong client",
      () => signJwt(key, cognitoClaims({ tenantId: "acme", clientId: "other-client" })),
      InactiveReason.UNVERIFIED,
    ],
    [
      "wrong token_use",
      () => signJwt(key, cognitoClaims({ tenantId: "acme", tokenUse: "id" })),
      InactiveReason.UNVERIFIED,
    ],
    ["alg none", () => unsignedJwt(cognitoClaims({ tenantId: "acme" }), key.kid), InactiveReason.UNVERIFIED],
    ["missing tenant claim", () => signJwt(key, cognitoClaims({})), InactiveReason.UNVERIFIED],
    [
      "unknown kid (no network)",
      () => signJwt(createTestKey("rotated-away"), cognitoClaims({ tenantId: "acme" })),
      InactiveReason.UNVERIFIED,
    ],
  ])("%s: inactive over gRPC, never an error", async (_name, make, reason) => {
    const r = await t.grpc.introspect({ token: make() });
    expect(r).toMatchObject({ active: false, inactiveReason: reason, tenantId: "", subject: "", groups: [] });
  });

  // Real Cognito access / ID tokens are about 1.1-1.5 kB: longer than the 1 KiB bound on opaque
  // tokens, so JWTs have their own bound (MAX_JWT_LENGTH, 8 KiB).
  it("a realistic-size Cognito access token (> 1024 chars) introspects active", async () => {
    const token = signJwt(
      key,
      cognitoClaims({
        tenantId: "acme-corporation",
        groups: ["tenant-admins"],
        extra: {
          version: 2,
          event_id: "64f513be-32db-42b0-b78e-b02127b4f463",
          origin_jti: "ab12cd34-ef56-7890-ab12-cd34ef567890",
          jti: "0f9e8d7c-6b5a-4321-8fed-cba987654321",
          username: "dana.scully@acme-corporation.example",
        },
      }),
    );
    expect(token.length).toBeGreaterThan(1024);
    expect((await t.grpc.introspect({ token })).active).toBe(true);
  });

  it("COGNITO_ADMIN_GROUP decides who administers the tenant", async () => {
    const admin = signJwt(key, cognitoClaims({ tenantId: "acme", groups: ["acme-admins"] }));
    const defaultGroup = signJwt(key, cognitoClaims({ tenantId: "acme", groups: ["tenant-admins"] }));
    expect((await t.grpc.listKeys({ tenantId: "acme" }, { bearer: admin })).keys).toEqual([]);
    await expect(t.grpc.listKeys({ tenantId: "acme" }, { bearer: defaultGroup })).rejects.toMatchObject({
      code: status.PERMISSION_DENIED,
    });
  });
});

describe("Cognito off", () => {
  it("without COGNITO_USER_POOL_ID a start-up line says so and JWTs introspect inactive (unsupported)", async () => {
    const off = await startTestApp();
    try {
      expect(off.logs.some((l) => l.includes("Cognito is off"))).toBe(true);
      const r = await off.grpc.introspect({ token: signJwt(key, cognitoClaims({ tenantId: "acme" })) });
      expect(r).toMatchObject({ active: false, inactiveReason: InactiveReason.UNSUPPORTED });
    } finally {
      await off.close();
    }
  });
});

/** A curl-like HTTP/1.1 POST over a raw socket (global fetch is blocked in this file). */
function postHttp1(port: number, path: string, json: unknown): Promise<string> {
  const body = JSON.stringify(json);
  return new Promise((resolve, reject) => {
    const s = connect(port, "127.0.0.1", () =>
      s.end(
        `POST ${path} HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      ),
    );
    let out = "";
    s.on("data", (d: Buffer) => (out += d.toString()));
    s.on("end", () => resolve(out));
    s.on("error", reject);
  });
}
