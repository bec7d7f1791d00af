import * as fc from "fast-check";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createMemoryTokenStore } from "../../src/adapters/memory/memory-token-store.js";
import { DomainError } from "../../src/domain/errors.js";
import { createIntrospector, type Introspector } from "../../src/domain/introspector.js";
import { createKeyService } from "../../src/domain/key-service.js";
import { createLastUsedRecorder, type LastUsedRecorder } from "../../src/domain/last-used-recorder.js";
import { createPolicyService } from "../../src/domain/policy-service.js";
import { createSessionService } from "../../src/domain/session-service.js";
import { createTokenCache } from "../../src/domain/token-cache.js";
import { checksum, generateToken, looksLikeJwt, MAX_JWT_LENGTH, MAX_TOKEN_LENGTH, parseToken } from "../../src/domain/token-format.js";
import { hashToken } from "../../src/domain/token-hash.js";
import { isValidTenantId } from "../../src/domain/tenant-id.js";
import { disabledJwtVerifier } from "../../src/ports/jwt-verifier.js";
import { createCountingStore, type CountingStore } from "../support/counting-store.js";
import { createManualClock } from "../support/manual-clock.js";
import { startTestApp, type TestApp } from "../support/test-app.js";

/**
 * Property-based bad input (fast-check): the parser and Introspect never throw, never accept a
 * token that was not issued, and malformed input never reaches the store or the hash function.
 * Every run draws fresh random inputs (fast-check prints the seed of a failure to replay it).
 */

// Spy on hashing: every call of hashToken is counted (the real function still runs).
vi.mock("../../src/domain/token-hash.js", async (importOriginal) => {
  const real = await importOriginal<typeof import("../../src/domain/token-hash.js")>();
  return { ...real, hashToken: vi.fn(real.hashToken) };
});
const hashCalls = () => vi.mocked(hashToken).mock.calls.length;

let generated = 0;
const counted = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T> =>
  arb.map((v) => {
    generated++;
    return v;
  });

// ---- the world: real tokens issued through the domain --------------------------------------

const clock = createManualClock();
let counting: CountingStore;
let introspector: Introspector;
let lastUsed: LastUsedRecorder;
/** token -> tenant, for every token this service issued and that must introspect active. */
const active = new Map<string, string>();
/** Issued but not active (revoked key, key of a HIPAA tenant). */
const inactiveIssued = new Set<string>();
let issued: string[] = [];

beforeAll(async () => {
  const raw = createMemoryTokenStore();
  counting = createCountingStore(raw);
  const cache = createTokenCache({ ttlMs: 60_000 });
  lastUsed = createLastUsedRecorder(raw, { flushIntervalMs: 3_600_000 });
  const keys = createKeyService({ store: raw, clock, cache, lastUsed });
  const sessions = createSessionService({ store: raw, clock, cache });
  const policies = createPolicyService({ store: raw, clock, cache });
  for (const tenant of ["acme", "beta", "a", "x-1", "t0123456789"]) {
    active.set((await keys.create(tenant, "fuzz", "test")).token, tenant);
    active.set((await sessions.create(tenant, "test")).token, tenant);
  }
  active.set((await keys.create("admin", "fuzz admin", "test")).token, "admin");
  const toRotate = await keys.create("acme", "rotated", "test");
  const rotated = await keys.rotate("acme", toRotate.key.id, "test");
  active.set(toRotate.token, "acme"); // deprecated, inside its 72-hour grace
  active.set(rotated.token, "acme");
  const revoked = await keys.create("beta", "revoked", "test");
  await keys.revoke("beta", revoked.key.id, "test");
  inactiveIssued.add(revoked.token);
  const hipaa = await keys.create("clinic", "hipaa", "test");
  await policies.set("clinic", true, "test");
  inactiveIssued.add(hipaa.token);
  issued = [...active.keys(), ...inactiveIssued];

  introspector = createIntrospector({
    store: counting.store,
    clock,
    cache: createTokenCache({ ttlMs: 60_000 }),
    lastUsed,
    jwt: disabledJwtVerifier,
  });
});
afterAll(async () => {
  await lastUsed?.close();
});

// ---- arbitraries ------------------------------------------------------------------------------

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const base62Char = fc.constantFrom(...BASE62);
const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));
/** One replacement character: base62, separators, ASCII controls (NUL...), any code point, lone surrogates. */
const anyChar = fc.oneof(
  { weight: 4, arbitrary: base62Char },
  fc.constantFrom("_", "-", ".", "\u0000", " ", "\t", "\n", "%", "/", "é", "Ａ", "\u200b", "\uffff", "😀"),
  fc.string({ unit: "binary-ascii", minLength: 1, maxLength: 1 }),
  fc.string({ unit: "binary", minLength: 1, maxLength: 1 }),
  loneSurrogate,
);
const tenantLike = fc.oneof(
  fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,62}$/),
  fc.constantFrom("", "admin", "ACME", "a_b", "-a", "acme\u0000", "acmé", "a".repeat(64), "acme beta"),
  fc.string({ maxLength: 70 }),
);
const prefixLike = fc.constantFrom("wf_", "sess_", "WF_", "wf-", "wf", "sess", "ses_", "wk_", "sk_", "", "xwf_", "wf__", "eyJ");
const bodyLike = fc.oneof(
  fc.string({ unit: base62Char, minLength: 38, maxLength: 38 }),
  fc.string({ unit: base62Char, minLength: 30, maxLength: 45 }),
  fc.string({ unit: anyChar, minLength: 36, maxLength: 40 }),
);
/** Shaped like a token (prefix, tenant, body) with a random checksum. */
const tokenShaped = fc.tuple(prefixLike, tenantLike, fc.constantFrom("_", "-", ""), bodyLike).map(([p, t, s, b]) => p + t + s + b);
const jwtShaped = fc
  .tuple(fc.base64String({ maxLength: 60 }), fc.base64String({ maxLength: 200 }), fc.base64String({ maxLength: 80 }))
  .map(([h, p, s]) => `eyJ${h}.${p}.${s}`.replace(/\+/g, "-").replace(/\//g, "_").replace(/=/g, ""));
const longString = fc.oneof(
  fc.string({ unit: "binary-ascii", minLength: 1000, maxLength: 10_240 }),
  fc.tuple(fc.constantFrom("wf_acme_", "sess_acme_", "eyJ"), fc.nat({ max: 10_000 })).map(([p, n]) => p + "A".repeat(n)),
);
/** Random strings of every kind: ASCII, all code points, graphemes, controls and NUL, lone surrogates, long. */
const randomInput = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 120 }) },
  { weight: 3, arbitrary: fc.string({ unit: "binary-ascii", maxLength: 120 }) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 80 }) },
  { weight: 1, arbitrary: fc.string({ unit: "grapheme", maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: fc.oneof(loneSurrogate, fc.constant("\u0000"), base62Char), maxLength: 60 }) },
  { weight: 4, arbitrary: tokenShaped },
  { weight: 1, arbitrary: jwtShaped },
  { weight: 1, arbitrary: longString },
);

const issuedToken = () => fc.constantFrom(...issued);
/** An issued token with exactly one character replaced by a different one. */
const oneCharChanged = () =>
  fc
    .tuple(issuedToken(), fc.nat(), anyChar)
    .map(([t, i, c]) => {
      const at = i % t.length;
      const replacement = c === t[at] ? (c === "a" ? "b" : "a") : c;
      return t.slice(0, at) + replacement + t.slice(at + 1);
    })
    .filter((t) => !active.has(t) && !inactiveIssued.has(t));
/** Other near misses: adjacent swap, one char inserted or deleted, wrong/changed prefix, truncation. */
const otherNearMiss = () =>
  fc
    .tuple(issuedToken(), fc.nat(), anyChar, fc.constantFrom("swap", "insert", "delete", "prefix", "truncate", "case"))
    .map(([t, i, c, op]) => {
      const at = i % t.length;
      switch (op) {
        case "swap": {
          const j = Math.min(at, t.length - 2);
          return t.slice(0, j) + t[j + 1] + t[j] + t.slice(j + 2);
        }
        case "insert":
          return t.slice(0, at) + c + t.slice(at);
        case "delete":
          return t.slice(0, at) + t.slice(at + 1);
        case "prefix":
          return t.startsWith("wf_") ? "sess_" + t.slice(3) : "wf_" + t.slice(5);
        case "truncate":
          return t.slice(0, at);
        default:
          return t.toUpperCase();
      }
    })
    .filter((t) => !active.has(t) && !inactiveIssued.has(t));
/** A real token's secret moved to another tenant, checksum recomputed: well-formed, never issued. */
const otherTenant = () =>
  fc.tuple(issuedToken(), fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,20}$/)).map(([t, tenant]) => {
    const prefix = t.startsWith("wf_") ? "wf_" : "sess_";
    const payload = `${prefix}${tenant}_${t.slice(-38, -6)}`;
    return payload + checksum(payload);
  });
/** Well-formed tokens with a valid checksum that were never issued. */
const freshValid = fc
  .tuple(fc.constantFrom("api_key", "session") as fc.Arbitrary<"api_key" | "session">, fc.constantFrom("acme", "beta", "admin", "zeta"))
  .map(([kind, tenant]) => generateToken(kind, tenant));

// ---- properties -------------------------------------------------------------------------------

const RUNS = { random: 50_000, oneChar: 30_000, otherNearMiss: 15_000, introspect: 60_000, long: 3_000, grpc: 2_000 };

describe("token parser under random input", () => {
  it(`never throws and accepts only well-formed, checksummed tokens (${RUNS.random} random strings)`, () => {
    fc.assert(
      fc.property(counted(randomInput), (s) => {
        const parsed = parseToken(s);
        if (parsed === null) return;
        // Anything accepted must really be well formed: prefix, valid tenant, base62 body, checksum.
        const prefix = parsed.kind === "api_key" ? "wf_" : "sess_";
        expect(s.startsWith(`${prefix}${parsed.tenantId}_`)).toBe(true);
        expect(isValidTenantId(parsed.tenantId)).toBe(true);
        expect(s.slice(-38)).toMatch(/^[0-9A-Za-z]{38}$/);
        expect(checksum(s.slice(0, -6))).toBe(s.slice(-6));
      }),
      { numRuns: RUNS.random },
    );
  });

  it(`rejects every issued token with one character changed (${RUNS.oneChar} near misses)`, () => {
    fc.assert(
      fc.property(counted(oneCharChanged()), (s) => {
        expect(parseToken(s)).toBeNull();
      }),
      { numRuns: RUNS.oneChar },
    );
  });

  it(`rejects swaps, insertions, deletions, wrong prefixes, truncations (${RUNS.otherNearMiss})`, () => {
    fc.assert(
      fc.property(counted(otherNearMiss()), (s) => {
        expect(parseToken(s)).toBeNull();
      }),
      { numRuns: RUNS.otherNearMiss },
    );
  });
});

describe("Introspect (domain) under bad input", () => {
  it(`never throws, never active unless issued and active, malformed never reaches the store (${RUNS.introspect})`, async () => {
    let malformedSeen = 0;
    let reachedStore = 0;
    const input = fc.tuple(
      fc.oneof(
        { weight: 6, arbitrary: randomInput },
        { weight: 3, arbitrary: oneCharChanged() },
        { weight: 2, arbitrary: otherNearMiss() },
        { weight: 2, arbitrary: otherTenant() },
        { weight: 1, arbitrary: freshValid },
        { weight: 1, arbitrary: issuedToken() },
      ),
      fc.option(fc.constantFrom("acme", "beta", "admin", "other", "a"), { nil: undefined }),
    );
    await fc.assert(
      fc.asyncProperty(counted(input), async ([token, expectedTenant]) => {
        const readsBefore = counting.introspectReads();
        const hashesBefore = hashCalls();
        let result;
        try {
          result = await introspector.introspect(token, expectedTenant);
        } catch (err) {
          // The one documented error: an empty token is INVALID_ARGUMENT.
          expect(token).toBe("");
          expect(err).toBeInstanceOf(DomainError);
          expect((err as DomainError).code).toBe("invalid_argument");
          return;
        }
        const tenant = active.get(token);
        const shouldBeActive = tenant !== undefined && (expectedTenant === undefined || expectedTenant === tenant);
        expect(result.active).toBe(shouldBeActive);
        if (result.active) expect(result.tenantId).toBe(tenant);
        if (parseToken(token) === null) {
          malformedSeen++;
          expect(counting.introspectReads() - readsBefore).toBe(0);
          // Over 1 KiB and not a JWT (JWTs may be up to 8 KiB): refused before any hashing.
          if (token.length > MAX_TOKEN_LENGTH && !looksLikeJwt(token)) {
            expect(hashCalls() - hashesBefore).toBe(0);
            expect(result).toEqual({ active: false, reason: "malformed" });
          }
        } else {
          reachedStore++;
        }
      }),
      { numRuns: RUNS.introspect },
    );
    // The generators really exercised both sides.
    expect(malformedSeen).toBeGreaterThan(RUNS.introspect / 3);
    expect(reachedStore).toBeGreaterThan(RUNS.introspect / 20);
  });

  it(`rejects opaque tokens over 1 KiB (and JWTs over 8 KiB) as malformed with no hashing and no store read (${RUNS.long})`, async () => {
    // Positive control: the spy sees the hashing of a well-formed token.
    const h0 = hashCalls();
    await introspector.introspect(generateToken("api_key", "acme"));
    expect(hashCalls()).toBeGreaterThan(h0);

    const over = fc.oneof(
      fc.string({ unit: "binary-ascii", minLength: MAX_TOKEN_LENGTH + 1, maxLength: 10_240 }),
      fc.tuple(issuedToken(), fc.nat({ max: 9_000 })).map(([t, n]) => t + "A".repeat(MAX_TOKEN_LENGTH + 1 - t.length + n)),
      fc.tuple(issuedToken(), fc.nat({ max: 9_000 })).map(([t, n]) => t.slice(0, 12) + "0".repeat(MAX_TOKEN_LENGTH + n) + t.slice(12)),
      fc.nat({ max: 9_000 }).map((n) => `eyJ${"a".repeat(MAX_JWT_LENGTH + n)}.b.c`),
    );
    await fc.assert(
      fc.asyncProperty(counted(over), async (token) => {
        expect(token.length).toBeGreaterThan(MAX_TOKEN_LENGTH);
        expect(looksLikeJwt(token)).toBe(false);
        const reads = counting.introspectReads();
        const hashes = hashCalls();
        expect(parseToken(token)).toBeNull();
        expect(await introspector.introspect(token)).toEqual({ active: false, reason: "malformed" });
        expect(hashCalls() - hashes).toBe(0);
        expect(counting.introspectReads() - reads).toBe(0);
      }),
      { numRuns: RUNS.long },
    );
  });
});

describe("Introspect over real gRPC under bad input", () => {
  let t: TestApp;
  let grpcCounting: CountingStore;
  const grpcActive = new Map<string, string>();
  beforeAll(async () => {
    grpcCounting = createCountingStore(createMemoryTokenStore());
    t = await startTestApp({ store: grpcCounting.store, logLevel: "warn" });
    for (const tenant of ["acme", "beta"]) {
      grpcActive.set((await t.grpc.createKey({ tenantId: tenant, label: "fuzz" }, { bearer: t.adminKey })).token, tenant);
      grpcActive.set((await t.grpc.createSession({ tenantId: tenant }, { bearer: t.adminKey })).token, tenant);
    }
    grpcActive.set(t.adminKey, "admin");
  });
  afterAll(async () => {
    await t?.close();
  });

  it(`answers every input without a failure, active only for issued tokens; malformed never reaches the store (${RUNS.grpc})`, async () => {
    const tokens = [...grpcActive.keys()];
    const near = fc.tuple(fc.constantFrom(...tokens), fc.nat(), anyChar).map(([tok, i, c]) => {
      const at = i % tok.length;
      return tok.slice(0, at) + (c === tok[at] ? "~" : c) + tok.slice(at + 1);
    });
    const arb = counted(
      fc.oneof(
        { weight: 5, arbitrary: randomInput },
        { weight: 3, arbitrary: near },
        { weight: 1, arbitrary: fc.constantFrom(...tokens) },
        { weight: 1, arbitrary: freshValid },
      ),
    );
    const inputs = fc.sample(arb, RUNS.grpc).filter((s) => s !== "");
    // Malformed ones first, alone, so their store reads can be counted exactly (zero).
    const malformed = inputs.filter((s) => parseToken(s) === null);
    const wellFormed = inputs.filter((s) => parseToken(s) !== null);
    expect(malformed.length).toBeGreaterThan(RUNS.grpc / 3);

    const run = async (batch: string[]) => {
      for (let i = 0; i < batch.length; i += 50) {
        await Promise.all(
          batch.slice(i, i + 50).map(async (token) => {
            // gRPC strings are UTF-8: lone surrogates arrive as U+FFFD. Judge by what was sent.
            const sent = Buffer.from(token, "utf8").toString("utf8");
            const r = await t.grpc.introspect({ token }).catch((e: { code: number; details: string }) => ({ error: e }));
            if ("error" in r) throw new Error(`introspect failed with ${status[r.error.code]}: ${r.error.details}`);
            const tenant = grpcActive.get(sent);
            expect(r.active, JSON.stringify(sent.slice(0, 80))).toBe(tenant !== undefined);
            if (r.active) expect(r.tenantId).toBe(tenant);
          }),
        );
      }
    };
    const readsBefore = grpcCounting.introspectReads();
    await run(malformed);
    expect(grpcCounting.introspectReads() - readsBefore).toBe(0);
    await run(wellFormed);
    // Empty token: INVALID_ARGUMENT naming the field, not a crash.
    await expect(t.grpc.introspect({ token: "" })).rejects.toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringContaining("token") });
  });
});

describe("volume", () => {
  it("generated at least 100,000 inputs in this run", () => {
    // eslint-disable-next-line no-console
    console.log(`bad-input fuzz: ${generated} generated inputs (${JSON.stringify(RUNS)})`);
    expect(generated).toBeGreaterThanOrEqual(100_000);
  });
});
