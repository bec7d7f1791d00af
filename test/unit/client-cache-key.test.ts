import { createHash, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { cacheKeyOf } from "../../src/client/cache-key.js";
import { generateToken } from "../../src/domain/token-format.js";

describe("client cache key (the token's SHA-256 as a 16-char utf16le string)", () => {
  it("is the token's SHA-256, two digest bytes per char: 16 chars, never the plaintext", () => {
    for (const token of [generateToken("api_key", "acme"), generateToken("session", "beta"), "eyJ.a.b", "é✓"]) {
      const key = cacheKeyOf(token);
      expect(key).toHaveLength(16);
      expect(Buffer.from(key, "utf16le").equals(createHash("sha256").update(token, "utf8").digest())).toBe(true);
      expect(key).not.toContain(token.slice(0, 8));
    }
  });

  it("is one-to-one with the digest: every 16-bit unit survives (surrogates, zeros), distinct tokens, distinct keys", () => {
    const keys = new Set<string>();
    for (let i = 0; i < 20_000; i++) {
      const token = randomBytes(24).toString("base64url");
      const key = cacheKeyOf(token);
      const digest = createHash("sha256").update(token).digest();
      // What a lossy conversion (a lone surrogate replaced by U+FFFD) would break.
      expect(Buffer.from(key, "utf16le").equals(digest)).toBe(true);
      keys.add(key);
    }
    expect(keys.size).toBe(20_000);
  });
});
