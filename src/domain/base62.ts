import { randomBytes } from "node:crypto";

export const BASE62_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** Encodes a non-negative integer in base62, left-padded with "0" to `width`. */
export function encodeBase62(value: number, width: number): string {
  let out = "";
  let n = value;
  do {
    out = BASE62_ALPHABET[n % 62] + out;
    n = Math.floor(n / 62);
  } while (n > 0);
  return out.padStart(width, "0");
}

/**
 * `length` uniformly random base62 characters from the CSPRNG (rejection sampling: bytes >= 248
 * are discarded so every character has probability exactly 1/62).
 */
export function randomBase62(length: number): string {
  let out = "";
  while (out.length < length) {
    const bytes = randomBytes(length * 2);
    for (let i = 0; i < bytes.length && out.length < length; i++) {
      const b = bytes[i]!;
      if (b < 248) out += BASE62_ALPHABET[b % 62];
    }
  }
  return out;
}

const BASE62_RE = /^[0-9A-Za-z]*$/;
export function isBase62(value: string): boolean {
  return BASE62_RE.test(value);
}
