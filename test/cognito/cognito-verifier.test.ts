import { createHmac, createPublicKey } from "node:crypto";
import { writeFileSync } from "node:fs";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { createCognitoJwtVerifier } from "../../src/adapters/cognito/cognito-jwt-verifier.js";
import { createLogger } from "../../src/app/logger.js";
import type { CognitoConfig } from "../../src/config.js";
import type { JwtVerifier } from "../../src/ports/jwt-verifier.js";
import {
  blockNetwork,
  CLIENT_ID,
  cognitoClaims,
  createTestKey,
  issuerOf,
  jwksOf,
  POOL_ID,
  POOL_ID_2,
  signJwt,
  unsignedJwt,
  writeTempJson,
  type TestKey,
} from "../support/jwt.js";

/** The Cognito adapter with COGNITO_JWKS_FILE: every outcome, and never the network. */
const logger = createLogger("silent");
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
let key: TestKey;
let otherKey: TestKey; // same kid as `key`, different key material: a forged signature
let verifier: JwtVerifier;
let network: ReturnType<typeof blockNetwork>;

const config = (over: Partial<CognitoConfig> = {}): CognitoConfig => ({
  userPoolIds: [POOL_ID],
  clientIds: [CLIENT_ID],
  tokenUse: "access",
  tenantClaim: "custom:tenant_id",
  adminGroup: "tenant-admins",
  jwksFile: writeTempJson(jwksOf(key)),
  ...over,
});

beforeAll(async () => {
  key = createTestKey("key-1");
  otherKey = { ...createTestKey("key-1") };
  verifier = await createCognitoJwtVerifier(config(), logger);
});

// Every test in this file runs with outbound HTTP(S) blocked and asserts nothing tried it.
beforeAll(() => {
  network = blockNetwork();
  return () => network.restore();
});
afterEach(() => {
  expect(network.attempts()).toBe(0);
});

describe("Cognito verifier (COGNITO_JWKS_FILE)", () => {
  it("is ready at once and verifies an access token into claims", async () => {
    expect(verifier.ready()).toBe(true);
    const payload = cognitoClaims({ tenantId: "acme", groups: ["tenant-admins", "viewers"] });
    const r = await verifier.verify(signJwt(key, payload));
    expect(r).toEqual({
      ok: true,
      claims: {
        tenantId: "acme",
        subject: payload.sub,
        expiresAt: new Date((payload.exp as number) * 1000),
        groups: ["tenant-admins", "viewers"],
        email: "dana@acme.example",
        username: "dana",
        scopes: ["aws.cognito.signin.user.admin"], // the scope claim (issue 22)
      },
    });
  });

  it("gives groups [] when cognito:groups is absent; a cognito:groups that is not a list of strings is unverified", async () => {
    const none = await verifier.verify(signJwt(key, cognitoClaims({ tenantId: "acme" })));
    expect(none.ok && none.claims.groups).toEqual([]);
    const odd = await verifier.verify(
      signJwt(key, cognitoClaims({ tenantId: "acme", extra: { "cognito:groups": "tenant-admins" } })),
    );
    expect(odd).toEqual({ ok: false, reason: "unverified" });
  });

  it("verifies ID tokens when COGNITO_TOKEN_USE=id (aud, cognito:username) and refuses access tokens there", async () => {
    const idVerifier = await createCognitoJwtVerifier(config({ tokenUse: "id" }), logger);
    const r = await idVerifier.verify(signJwt(key, cognitoClaims({ tenantId: "acme", tokenUse: "id" })));
    expect(r.ok && r.claims).toMatchObject({ tenantId: "acme", username: "dana", email: "dana@acme.example" });
    expect(await idVerifier.verify(signJwt(key, cognitoClaims({ tenantId: "acme" })))).toEqual({
      ok: false,
      reason: "unverified",
    });
  });

  it("reads the tenant from COGNITO_TENANT_CLAIM", async () => {
    const v = await createCognitoJwtVerifier(config({ tenantClaim: "custom:org" }), logger);
    const r = await v.verify(signJwt(key, cognitoClaims({ extra: { "custom:org": "globex" } })));
    expect(r.ok && r.claims.tenantId).toBe("globex");
    expect(await v.verify(signJwt(key, cognitoClaims({ tenantId: "acme" })))).toEqual({
      ok: false,
      reason: "unverified",
    });
  });

  describe("rejections are values with a reason, never exceptions", () => {
    const cases: [string, () => string, string][] = [
      ["expired", () => signJwt(key, cognitoClaims({ tenantId: "acme", expiresIn: -10 })), "expired"],
      [
        "bad signature (same kid, other key)",
        () => signJwt(otherKey, cognitoClaims({ tenantId: "acme" })),
        "unverified",
      ],
      [
        "tampered payload",
        () => {
          const t = signJwt(key, cognitoClaims({ tenantId: "acme" }));
          const [h, , s] = t.split(".");
          return `${h}.${b64(cognitoClaims({ tenantId: "globex" }))}.${s}`;
        },
        "unverified",
      ],
      [
        "wrong issuer (another pool)",
        () => signJwt(key, cognitoClaims({ tenantId: "acme", poolId: "us-east-1_Other" })),
        "unverified",
      ],
      [
        "wrong issuer (not Cognito)",
        () =>
          signJwt(key, cognitoClaims({ tenantId: "acme", extra: { iss: "https://evil.example/us-east-1_TestPool1" } })),
        "unverified",
      ],
      ["no issuer", () => signJwt(key, cognitoClaims({ tenantId: "acme", extra: { iss: undefined } })), "unverified"],
      [
        "wrong client",
        () => signJwt(key, cognitoClaims({ tenantId: "acme", clientId: "someotherclient" })),
        "unverified",
      ],
      [
        "wrong token_use (id token to an access verifier)",
        () => signJwt(key, cognitoClaims({ tenantId: "acme", tokenUse: "id" })),
        "unverified",
      ],
      [
        "unknown token_use",
        () => signJwt(key, cognitoClaims({ tenantId: "acme", extra: { token_use: "refresh" } })),
        "unverified",
      ],
      ["alg none, empty signature", () => unsignedJwt(cognitoClaims({ tenantId: "acme" }), key.kid), "unverified"],
      [
        "alg none, with the valid signature kept",
        () => {
          const [, p, s] = signJwt(key, cognitoClaims({ tenantId: "acme" })).split(".");
          return `${b64({ alg: "none", kid: key.kid })}.${p}.${s}`;
        },
        "unverified",
      ],
      [
        "HS256 signed with the public key as HMAC secret (key confusion)",
        () => {
          const input = `${b64({ alg: "HS256", kid: key.kid })}.${b64(cognitoClaims({ tenantId: "acme" }))}`;
          const pem = createPublicKey(key.privateKey).export({ format: "pem", type: "spki" }).toString();
          return `${input}.${createHmac("sha256", pem).update(input).digest("base64url")}`;
        },
        "unverified",
      ],
      ["no kid", () => signJwt(key, cognitoClaims({ tenantId: "acme" }), { kid: undefined }), "unverified"],
      [
        "not yet valid (nbf in the future)",
        () => signJwt(key, cognitoClaims({ tenantId: "acme", extra: { nbf: Math.floor(Date.now() / 1000) + 600 } })),
        "unverified",
      ],
      ["no exp", () => signJwt(key, cognitoClaims({ tenantId: "acme", extra: { exp: undefined } })), "unverified"],
      ["no sub", () => signJwt(key, cognitoClaims({ tenantId: "acme", extra: { sub: undefined } })), "unverified"],
      ["missing tenant claim", () => signJwt(key, cognitoClaims({ tenantId: undefined })), "unverified"],
      ["empty tenant claim", () => signJwt(key, cognitoClaims({ tenantId: "" })), "unverified"],
      [
        "tenant id failing ^[a-z0-9][a-z0-9-]{0,62}$ (uppercase)",
        () => signJwt(key, cognitoClaims({ tenantId: "Acme" })),
        "unverified",
      ],
      [
        "tenant id failing validation (too long)",
        () => signJwt(key, cognitoClaims({ tenantId: "a".repeat(64) })),
        "unverified",
      ],
      [
        "tenant id failing validation (leading dash)",
        () => signJwt(key, cognitoClaims({ tenantId: "-acme" })),
        "unverified",
      ],
      [
        "tenant claim not a string",
        () => signJwt(key, cognitoClaims({ extra: { "custom:tenant_id": ["acme"] } })),
        "unverified",
      ],
      [
        "reserved tenant admin",
        () => signJwt(key, cognitoClaims({ tenantId: "admin", groups: ["tenant-admins"] })),
        "unverified",
      ],
      ["header not JSON", () => `eyJub3QganNvbg.${b64({})}.c2ln`, "malformed"],
      ["payload not JSON", () => `${b64({ alg: "RS256", kid: key.kid })}.bm90IGpzb24.c2ln`, "malformed"],
      ["garbage", () => "eyJ.not-a-jwt", "malformed"],
      ["signature padded with =", () => `${signJwt(key, cognitoClaims({ tenantId: "acme" }))}=`, "malformed"],
      [
        "payload padded with ==",
        () => {
          const [h, p, s] = signJwt(key, cognitoClaims({ tenantId: "acme" })).split(".");
          return `${h}.${p}==.${s}`;
        },
        "malformed",
      ],
      ["four segments", () => `${signJwt(key, cognitoClaims({ tenantId: "acme" }))}.e30`, "malformed"],
      [
        "standard base64 characters (+ /)",
        () => `${b64({ alg: "RS256", kid: key.kid })}.${b64(cognitoClaims({ tenantId: "acme" }))}.ab+/`,
        "malformed",
      ],
      [
        "exp 1e20 (no Date; was INTERNAL on Introspect)",
        () => signJwt(key, cognitoClaims({ tenantId: "acme", extra: { exp: 1e20 } })),
        "unverified",
      ],
      [
        "exp a string",
        () => signJwt(key, cognitoClaims({ tenantId: "acme", extra: { exp: "4102444800" } })),
        "unverified",
      ],
      [
        "nbf -1e20 (aws-jwt-verify's error message itself throws)",
        () => signJwt(key, cognitoClaims({ tenantId: "acme", extra: { nbf: -1e20 } })),
        "unverified",
      ],
    ];
    it.each(cases)("%s -> %s", async (_name, make, reason) => {
      await expect(verifier.verify(make())).resolves.toEqual({ ok: false, reason });
    });
  });

  it("unknown kid: unverified without any network access (aws-jwt-verify would download the JWKS)", async () => {
    const stranger = createTestKey("key-not-in-file");
    const token = signJwt(stranger, cognitoClaims({ tenantId: "acme" }));
    await expect(verifier.verify(token)).resolves.toEqual({ ok: false, reason: "unverified" });
    // twice: aws-jwt-verify's penalty box would have let the second attempt through as well
    await expect(verifier.verify(token)).resolves.toEqual({ ok: false, reason: "unverified" });
    expect(network.attempts()).toBe(0);
  });

  it("verifies tokens of the multi-region issuer format too", async () => {
    const globalIss = `https://issuer-cognito-idp.us-east-1.amazonaws.com/${POOL_ID}`;
    const r = await verifier.verify(signJwt(key, cognitoClaims({ tenantId: "acme", extra: { iss: globalIss } })));
    expect(r.ok).toBe(true);
  });
});

describe("several user pools", () => {
  it("a file keyed by pool id: each pool trusts only its own keys", async () => {
    const k2 = createTestKey("pool2-key");
    const v = await createCognitoJwtVerifier(
      config({
        userPoolIds: [POOL_ID, POOL_ID_2],
        jwksFile: writeTempJson({ [POOL_ID]: jwksOf(key), [POOL_ID_2]: jwksOf(k2) }),
      }),
      logger,
    );
    expect((await v.verify(signJwt(key, cognitoClaims({ tenantId: "acme" })))).ok).toBe(true);
    expect((await v.verify(signJwt(k2, cognitoClaims({ tenantId: "globex", poolId: POOL_ID_2 })))).ok).toBe(true);
    // pool 2's key signing a pool-1 token: kid known to the file, but not for this issuer
    expect(await v.verify(signJwt(k2, cognitoClaims({ tenantId: "acme" })))).toEqual({
      ok: false,
      reason: "unverified",
    });
  });

  it("a single JWKS file serves every pool", async () => {
    const v = await createCognitoJwtVerifier(config({ userPoolIds: [POOL_ID, POOL_ID_2] }), logger);
    expect((await v.verify(signJwt(key, cognitoClaims({ tenantId: "acme", poolId: POOL_ID_2 })))).ok).toBe(true);
    expect(issuerOf(POOL_ID_2)).toBe("https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_TestPool2");
  });
});

describe("a bad COGNITO_JWKS_FILE fails at start with a line naming the variable", () => {
  const bad: [string, () => string, RegExp][] = [
    ["missing file", () => "/nonexistent/jwks.json", /no such file/],
    [
      "not JSON",
      () => {
        const p = writeTempJson({});
        writeFileSync(p, "{nope");
        return p;
      },
      /not readable JSON/,
    ],
    ["no keys", () => writeTempJson({ keys: [] }), /non-empty array/],
    ["key without kid", () => writeTempJson({ keys: [{ ...key.publicJwk, kid: undefined }] }), /kid is required/],
    [
      "a private key",
      () => writeTempJson({ keys: [{ ...(key.privateKey.export({ format: "jwk" }) as object), kid: "p" }] }),
      /private key/,
    ],
    [
      "not RSA",
      () => writeTempJson({ keys: [{ kty: "EC", kid: "e", crv: "P-256", x: "a", y: "b" }] }),
      /kty must be RSA/,
    ],
    [
      "broken modulus",
      () => writeTempJson({ keys: [{ kty: "RSA", kid: "b", n: "", e: "AQAB" }] }),
      /not a usable RSA public key/,
    ],
    [
      "pool missing from a keyed file",
      () => writeTempJson({ "us-east-1_Other": jwksOf(key) }),
      /no JWKS for user pool us-east-1_TestPool1/,
    ],
  ];
  it.each(bad)("%s", async (_name, path, message) => {
    await expect(createCognitoJwtVerifier(config({ jwksFile: path() }), logger)).rejects.toThrow(
      expect.objectContaining({
        name: "ConfigError",
        message: expect.stringMatching(new RegExp(`^COGNITO_JWKS_FILE: .*${message.source}`)),
      }),
    );
  });
});
