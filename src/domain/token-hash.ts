import { createHash } from "node:crypto";

/**
 * SHA-256 of a token, base64url. The only form in which a token is stored, cached or used as a
 * lookup key. Tokens carry 190 bits of CSPRNG entropy, so an unsalted fast hash is the right tool
 * (a slow KDF buys nothing against brute force of that space and would cost the hot path).
 */
export function hashToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("base64url");
}
