import { crc32 } from "node:zlib";
import { describe, expect, it } from "vitest";
import { encodeBase62 } from "../../src/domain/base62.js";
import {
  checksum,
  generateToken,
  parseToken,
  tokenHint,
  looksLikeJwt,
  MAX_TOKEN_LENGTH,
} from "../../src/domain/token-format.js";
import { hashToken } from "../../src/domain/token-hash.js";
import { isValidTenantId, requireTenantId } from "../../src/domain/tenant-id.js";

describe("token format", () => {
  it("generates wf_<tenant>_<32 base62><6-char CRC-32 base62> and sess_ tokens", () => {
    const key = generateToken("api_key", "acme");
    expect(key).toMatch(/^wf_acme_[0-9A-Za-z]{38}$/);
    expect(generateToken("session", "acme-2")).toMatch(/^sess_acme-2_[0-9A-Za-z]{38}$/);
    expect(parseToken(key)).toEqual({ kind: "api_key", tenantId: "acme" });
  });

  it("computes the checksum as zlib CRC-32 of the UTF-8 bytes, base62, left-padded to 6", () => {
    // Independent reference: CRC-32 of "wf_acme_" + 32 "a" written in base62 by hand.
    const payload = "wf_acme_" + "a".repeat(32);
    const crc = crc32(Buffer.from(payload, "utf8"));
    let n = crc;
    let digits = "";
    const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    while (n > 0) {
      digits = alphabet[n % 62] + digits;
      n = Math.floor(n / 62);
    }
    expect(checksum(payload)).toBe(digits.padStart(6, "0"));
    expect(parseToken(payload + digits.padStart(6, "0"))).toEqual({ kind: "api_key", tenantId: "acme" });
    expect(encodeBase62(0, 6)).toBe("000000");
    expect(encodeBase62(0xffffffff, 6)).toBe("4gfFC3"); // 62^6 > 2^32: six characters always suffice
  });

  it("spreads secret characters over the whole base62 alphabet", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) for (const c of generateToken("api_key", "t").slice(5, 37)) seen.add(c);
    expect(seen.size).toBe(62);
  });

  it("rejects every one-character change, wrong prefixes, bad tenants and lengths", () => {
    const key = generateToken("api_key", "acme");
    for (let i = 0; i < key.length; i++) {
      const c = key[i] === "x" ? "y" : "x";
      const changed = key.slice(0, i) + c + key.slice(i + 1);
      expect(parseToken(changed), changed).toBeNull();
    }
    const body = key.slice("wf_acme_".length);
    expect(parseToken(`sess_acme_${body}`)).toBeNull(); // checksum covers the prefix
    expect(parseToken(`wf_other_${body}`)).toBeNull(); // and the tenant
    expect(parseToken(key + "0")).toBeNull();
    expect(parseToken(key.slice(0, -1))).toBeNull();
    expect(parseToken("wf__" + body)).toBeNull();
    expect(parseToken("")).toBeNull();
    expect(parseToken("x".repeat(MAX_TOKEN_LENGTH + 1))).toBeNull();
  });

  it("hints show the prefix and last 4 characters only", () => {
    const key = generateToken("api_key", "acme");
    expect(tokenHint(key, "api_key", "acme")).toBe(`wf_acme_...${key.slice(-4)}`);
  });

  it("hashes with SHA-256 (base64url), never returning the token", () => {
    // Known answer: SHA-256("abc") = ba7816bf...15ad, in base64url.
    expect(hashToken("abc")).toBe("ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0");
    const h = hashToken("wf_acme_x");
    expect(h).toHaveLength(43);
    expect(h).not.toContain("acme");
    expect(hashToken("wf_acme_x")).toBe(h);
    expect(hashToken("wf_acme_y")).not.toBe(h);
  });

  it("recognises the JWT shape cheaply", () => {
    expect(looksLikeJwt("eyJhbGciOi.eyJzdWIi.sig")).toBe(true);
    expect(looksLikeJwt("eyJ.a")).toBe(false);
    expect(looksLikeJwt("wf_acme_x")).toBe(false);
  });
});

describe("tenant ids", () => {
  it("accepts ^[a-z0-9][a-z0-9-]{0,62}$ and reserves admin", () => {
    for (const ok of ["a", "acme", "acme-2", "0", "a".repeat(63)]) expect(isValidTenantId(ok), ok).toBe(true);
    for (const bad of ["", "-a", "A", "a_b", "a".repeat(64), "acme ", "ácme"])
      expect(isValidTenantId(bad), bad).toBe(false);
    expect(() => requireTenantId("admin")).toThrow(/reserved/);
    expect(requireTenantId("admin", "tenant_id", true)).toBe("admin");
    expect(() => requireTenantId("")).toThrow(/tenant_id: is required/);
  });
});
