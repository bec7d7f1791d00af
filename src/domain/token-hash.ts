// SHA-256 of a token, base64url. The only form in which a token is stored, cached or used as a
// lookup key. Tokens carry 190 bits of CSPRNG entropy, so an unsalted fast hash is the right tool
// (a slow KDF buys nothing against brute force of that space and would cost the hot path).
//
// crypto.hash (Node >= 20.12) is one native call without a Hash object: ~0.2 µs against ~0.8 µs for
// createHash().update().digest() on a 50-character token (bench/tools/hot-path-micro.ts).
import * as crypto from "node:crypto";

const oneShot = (crypto as { hash?: (algorithm: string, data: string, encoding: "base64url") => string }).hash;

export const hashToken: (token: string) => string = oneShot
  ? (token) => oneShot("sha256", token, "base64url")
  : (token) => crypto.createHash("sha256").update(token, "utf8").digest("base64url");
