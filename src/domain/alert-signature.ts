// GitHub signs each secret-scanning alert with ECDSA P-256 / SHA-256 over the raw body bytes; the
// signature (Github-Public-Key-Signature) is base64 of the ASN.1 DER (r, s) pair.
import { verify, type KeyObject } from "node:crypto";

/** Longest signature header looked at: a P-256 DER signature is at most 72 bytes (96 in base64). */
export const MAX_SIGNATURE_HEADER_LENGTH = 256;
/** Longest key identifier header looked at (GitHub's are 64 hex characters). */
export const MAX_KEY_IDENTIFIER_LENGTH = 256;

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** Does `signature` (base64 DER) verify `body` under `key`? Never throws: anything malformed is false. */
export function verifyAlertSignature(body: Buffer, signature: string, key: KeyObject): boolean {
  if (signature.length === 0 || signature.length > MAX_SIGNATURE_HEADER_LENGTH || !BASE64.test(signature)) return false;
  try {
    return verify("sha256", body, { key, dsaEncoding: "der" }, Buffer.from(signature, "base64"));
  } catch {
    return false;
  }
}
