import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InactiveReason, TokenType } from "../../src/gen/warpflow/auth/v1/token_service_pb.js";
import {
  cognitoClaims,
  cognitoEnv,
  createTestKey,
  signJwt,
  jwksOf,
  writeTempJson,
  type TestKey,
} from "../support/jwt.js";
import { useTestApp } from "../support/test-app.js";
import { codeOf } from "../support/codes.js";

/**
 * Issue 13, item 7: one signed JWT has exactly one accepted spelling, and no claim value makes the
 * service answer INTERNAL (or UNAVAILABLE), or makes Introspect and admin authorization disagree.
 *
 * Real service over gRPC, real aws-jwt-verify, JWTs correctly signed with a local key whose claim
 * values fast-check draws from valid, absent, out-of-range and wrong-type values. The expected
 * outcome comes from `oracle` below, written from the rule (README/docs/cognito.md), not from the
 * adapter's code.
 */
let key: TestKey;
const NOW = () => Math.floor(Date.now() / 1000);
const MAX_DATE_S = 253_402_300_799; // 9999-12-31T23:59:59Z, the last second a protobuf Timestamp holds

const t = useTestApp(async () => {
  key = createTestKey("prop-key");
  // CACHE_TTL_MS=0: every call verifies afresh, so Introspect and the admin call judge the same token independently.
  return { env: cognitoEnv(writeTempJson(jwksOf(key)), { CACHE_TTL_MS: "0" }), logLevel: "silent" };
});

/** What a claim may be: valid, absent, or something no Cognito token carries. */
const junk = fc.oneof(
  fc.constantFrom(
    null,
    true,
    false,
    0,
    -1,
    1e20,
    -1e20,
    1e308,
    -1e308,
    8.64e12,
    8.64e12 + 1,
    MAX_DATE_S + 1,
    0.5,
    "",
    "1e20",
    "acme",
    [],
    {},
    ["a", 1],
  ),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.integer(),
  fc.string({ maxLength: 12 }),
  fc.array(fc.oneof(fc.string({ maxLength: 6 }), fc.integer()), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 4 }), fc.integer(), { maxKeys: 2 }),
);
const orJunk = <T>(valid: fc.Arbitrary<T>) =>
  fc.oneof(
    { weight: 16, arbitrary: valid.map((v) => ({ kind: "valid" as const, v })) },
    { weight: 1, arbitrary: fc.constant({ kind: "absent" as const }) },
    { weight: 3, arbitrary: junk.map((v) => ({ kind: "junk" as const, v })) },
  );
type Drawn = { kind: "valid"; v: unknown } | { kind: "absent" } | { kind: "junk"; v: unknown };

const claimArbs = {
  exp: orJunk(fc.integer({ min: 120, max: 10 * 365 * 86400 }).map((d) => NOW() + d)),
  iat: orJunk(fc.integer({ min: 0, max: 3600 }).map((d) => NOW() - d)),
  nbf: orJunk(fc.integer({ min: 60, max: 3600 }).map((d) => NOW() - d)),
  auth_time: orJunk(fc.integer({ min: 0, max: 3600 }).map((d) => NOW() - d)),
  sub: orJunk(fc.string({ minLength: 1, maxLength: 40 })),
  "custom:tenant_id": orJunk(fc.constantFrom("acme", "globex", "a-1")),
  "cognito:groups": orJunk(fc.array(fc.constantFrom("tenant-admins", "viewers", ""), { maxLength: 3 })),
  email: orJunk(fc.string({ maxLength: 30 })),
  username: orJunk(fc.string({ maxLength: 20 })),
  jti: orJunk(fc.string({ maxLength: 20 })),
  scope: orJunk(fc.constant("aws.cognito.signin.user.admin")),
};
type ClaimName = keyof typeof claimArbs;

const isNumericDate = (v: unknown) => typeof v === "number" && Number.isFinite(v) && v >= 0 && v <= MAX_DATE_S;
const isStr = (v: unknown) => typeof v === "string";
const TENANT = /^[a-z0-9][a-z0-9-]{0,62}$/;
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]{1,128}$/;
/** The rule, claim by claim: may this value stand (given that every other claim is fine)? */
const allowed: Record<ClaimName, (d: Drawn) => boolean> = {
  exp: (d) => d.kind !== "absent" && isNumericDate(d.v) && (d.v as number) > NOW() + 5,
  iat: (d) => d.kind === "absent" || isNumericDate(d.v),
  nbf: (d) => d.kind === "absent" || (isNumericDate(d.v) && (d.v as number) < NOW() - 5),
  auth_time: (d) => d.kind === "absent" || isNumericDate(d.v),
  sub: (d) => d.kind !== "absent" && isStr(d.v) && d.v !== "",
  "custom:tenant_id": (d) => d.kind !== "absent" && isStr(d.v) && TENANT.test(d.v as string) && d.v !== "admin",
  "cognito:groups": (d) => d.kind === "absent" || (Array.isArray(d.v) && d.v.every(isStr)),
  email: (d) => d.kind === "absent" || isStr(d.v),
  username: (d) => d.kind === "absent" || isStr(d.v),
  jti: (d) => d.kind === "absent" || isStr(d.v),
  // A string naming at least one RFC 6749 scope-token of at most 128 characters (else it holds none).
  scope: (d) => d.kind === "absent" || (isStr(d.v) && d.v.split(" ").some((s) => SCOPE_TOKEN.test(s))),
};
/** Values within a few seconds of now could go either way while the call runs: leave them out. */
const borderline = (name: ClaimName, d: Drawn) =>
  (name === "exp" || name === "nbf") && d.kind !== "absent" && typeof d.v === "number" && Math.abs(d.v - NOW()) < 30;

function tokenOf(drawn: Record<ClaimName, Drawn>): string {
  const payload: Record<string, unknown> = cognitoClaims({ tenantId: "acme" });
  for (const [name, d] of Object.entries(drawn)) {
    if (d.kind === "absent") delete payload[name];
    else payload[name] = d.v;
  }
  return signJwt(key, payload);
}

describe("signed JWTs with random claim values (fast-check)", () => {
  it("never INTERNAL or UNAVAILABLE; active exactly when every claim is in range and of its type; Introspect and admin authorization agree", async () => {
    const seen = { active: 0, inactive: 0 };
    await fc.assert(
      fc.asyncProperty(fc.record(claimArbs), async (drawn) => {
        fc.pre(!(Object.keys(drawn) as ClaimName[]).some((n) => borderline(n, drawn[n])));
        const token = tokenOf(drawn);
        const expected = (Object.keys(drawn) as ClaimName[]).every((n) => allowed[n](drawn[n]));
        const r = await t.grpc.introspect({ token }); // rejects (fails the property) on any non-OK status
        expect(r.active).toBe(expected);
        if (r.active) {
          seen.active++;
          expect(r.tokenType).toBe(TokenType.COGNITO);
          const tenant = drawn["custom:tenant_id"];
          expect(r.tenantId).toBe(tenant.kind === "absent" ? "(absent: cannot be active)" : tenant.v); // junk may still be a valid id ("a")
          expect(Number(r.expiresAt!.seconds)).toBe(
            Math.floor(drawn.exp.kind === "absent" ? NaN : (drawn.exp.v as number)),
          );
        } else {
          seen.inactive++;
          expect([InactiveReason.UNVERIFIED, InactiveReason.EXPIRED]).toContain(r.inactiveReason);
        }
        // The same token as an admin credential: GetTenantPolicy on its own tenant is allowed to a
        // tenant admin, refused (PERMISSION_DENIED) to a member, UNAUTHENTICATED when not valid.
        const code = await codeOf(t.grpc.getTenantPolicy({ tenantId: "acme" }, { bearer: token }));
        expect(["OK", "PERMISSION_DENIED", "UNAUTHENTICATED"]).toContain(code);
        expect(code !== "UNAUTHENTICATED").toBe(r.active);
      }),
      { numRuns: 300 },
    );
    // Both branches ran (the generator is not stuck on one side).
    expect(seen.active).toBeGreaterThan(10);
    expect(seen.inactive).toBeGreaterThan(10);
  }, 60_000);

  it.each([
    ["exp 1e20", { exp: 1e20 }],
    ["exp -1e20", { exp: -1e20 }],
    ["exp past year 9999", { exp: MAX_DATE_S + 1 }],
    ["exp a string", { exp: "4102444800" }],
    ["nbf 1e20", { nbf: 1e20 }],
    ["nbf -1e20", { nbf: -1e20 }],
    ["iat an object", { iat: {} }],
    ["auth_time negative", { auth_time: -1 }],
    ["sub a number", { sub: 42 }],
    ["cognito:groups a string", { "cognito:groups": "tenant-admins" }],
    ["cognito:groups with a number", { "cognito:groups": ["tenant-admins", 1] }],
    ["email a list", { email: ["a@b.c"] }],
    ["username null", { username: null }],
    ["iss a number", { iss: 7 }],
    ["jti a list", { jti: ["x"] }],
  ])(
    "a signed admin JWT with %s: UNVERIFIED on Introspect and UNAUTHENTICATED as an admin credential",
    async (_name, extra) => {
      const token = signJwt(key, cognitoClaims({ tenantId: "acme", groups: ["tenant-admins"], extra }));
      expect(await t.grpc.introspect({ token })).toMatchObject({
        active: false,
        inactiveReason: InactiveReason.UNVERIFIED,
      });
      expect(await codeOf(t.grpc.listKeys({ tenantId: "acme" }, { bearer: token }))).toBe("UNAUTHENTICATED");
    },
  );

  it("control: the same admin JWT with in-range claims is active and authorized", async () => {
    const token = signJwt(
      key,
      cognitoClaims({ tenantId: "acme", groups: ["tenant-admins"], extra: { exp: MAX_DATE_S } }),
    );
    expect(await t.grpc.introspect({ token })).toMatchObject({ active: true, tenantId: "acme" });
    expect(await codeOf(t.grpc.listKeys({ tenantId: "acme" }, { bearer: token }))).toBe("OK");
  });
});

/** Every other spelling of one signed JWT: padded, or with the unused low bits of a segment's last character set. */
function respellings(token: string): [string, string][] {
  const segs = token.split(".");
  const out: [string, string][] = [];
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  segs.forEach((s, i) => {
    const at = (x: string) => segs.map((y, j) => (j === i ? x : y)).join(".");
    out.push([`segment ${i} + "="`, at(`${s}=`)], [`segment ${i} + "=="`, at(`${s}==`)]);
    const unused = s.length % 4 === 2 ? 0x0f : s.length % 4 === 3 ? 0x03 : 0;
    const last = alphabet.indexOf(s.at(-1)!);
    for (let bits = 1; bits <= unused; bits++) {
      const twin = `${s.slice(0, -1)}${alphabet[last | bits]}`;
      if (twin !== s && Buffer.from(twin, "base64url").equals(Buffer.from(s, "base64url")))
        out.push([`segment ${i}, low bits ${bits}`, at(twin)]);
    }
  });
  return out;
}

describe("one JWT, one string", () => {
  it("padding or non-zero unused bits in any segment: malformed, though the bytes decode the same", async () => {
    // Find a signed token whose segments have unused bits (most do); the signature of a 2048-bit
    // RSA key is 256 bytes = 342 characters + 2 unused bits.
    const token = signJwt(key, cognitoClaims({ tenantId: "acme", groups: ["tenant-admins"] }));
    expect((await t.grpc.introspect({ token })).active).toBe(true);
    const variants = respellings(token);
    expect(variants.filter(([n]) => n.startsWith("segment 2, low bits")).length).toBeGreaterThan(0);
    for (const [name, variant] of variants) {
      const r = await t.grpc.introspect({ token: variant });
      expect({ name, active: r.active, reason: r.inactiveReason }).toEqual({
        name,
        active: false,
        reason: InactiveReason.MALFORMED,
      });
      expect(await codeOf(t.grpc.listKeys({ tenantId: "acme" }, { bearer: variant }))).toBe("UNAUTHENTICATED");
    }
  });
});
