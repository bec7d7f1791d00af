// Token format (fixed; other teams and secret scanners depend on it):
//   API key: wf_<tenant_id>_<body>     session: sess_<tenant_id>_<body>
//   <body> = 32 base62 chars from a CSPRNG + 6-char checksum: CRC-32 (IEEE, zlib) of the UTF-8
//   bytes of everything before the checksum, in base62 (0-9A-Za-z), left-padded with "0".
import { crc32 } from "node:zlib";
import { encodeBase62, isBase62, randomBase62 } from "./base62.js";
import { isValidTenantId } from "./tenant-id.js";

export type OpaqueTokenKind = "api_key" | "session";

export const TOKEN_PREFIX: Readonly<Record<OpaqueTokenKind, string>> = {
  api_key: "wf_",
  session: "sess_",
};
export const SECRET_LENGTH = 32;
export const CHECKSUM_LENGTH = 6;
/** Longest opaque (wf_/sess_) or unknown token looked at; longer input is malformed without hashing. */
export const MAX_TOKEN_LENGTH = 1024;
/**
 * Longest JWT looked at. Real Cognito access and id tokens are 1.1-1.5 KB (more with many groups),
 * so JWTs get their own, larger bound; anything longer is malformed without hashing or verifying.
 */
export const MAX_JWT_LENGTH = 8192;

export interface ParsedToken {
  kind: OpaqueTokenKind;
  tenantId: string;
}

export function checksum(payload: string): string {
  return encodeBase62(crc32(payload), CHECKSUM_LENGTH);
}

export function generateToken(kind: OpaqueTokenKind, tenantId: string): string {
  const payload = `${TOKEN_PREFIX[kind]}${tenantId}_${randomBase62(SECRET_LENGTH)}`;
  return payload + checksum(payload);
}

/**
 * Parses an opaque token. Returns null for anything malformed (wrong prefix, bad tenant id, wrong
 * body length or alphabet, failed checksum). Cheap: no allocation beyond two substrings, no hashing.
 */
export function parseToken(token: string): ParsedToken | null {
  if (token.length > MAX_TOKEN_LENGTH) return null;
  let kind: OpaqueTokenKind;
  let rest: number;
  if (token.startsWith("wf_")) {
    kind = "api_key";
    rest = 3;
  } else if (token.startsWith("sess_")) {
    kind = "session";
    rest = 5;
  } else {
    return null;
  }
  const bodyLength = SECRET_LENGTH + CHECKSUM_LENGTH;
  const sep = token.length - bodyLength - 1;
  if (sep <= rest || token.charCodeAt(sep) !== 95 /* _ */) return null;
  const tenantId = token.slice(rest, sep);
  if (!isValidTenantId(tenantId)) return null;
  const body = token.slice(sep + 1);
  if (!isBase62(body)) return null;
  const payloadEnd = token.length - CHECKSUM_LENGTH;
  if (checksum(token.slice(0, payloadEnd)) !== token.slice(payloadEnd)) return null;
  return { kind, tenantId };
}

/** "wf_acme_...x9Z2": the prefix and last 4 characters, never the secret. */
export function tokenHint(token: string, kind: OpaqueTokenKind, tenantId: string): string {
  return `${TOKEN_PREFIX[kind]}${tenantId}_...${token.slice(-4)}`;
}

/** Does this look like a JWT (three base64url segments)? Cheap shape check only. */
export function looksLikeJwt(token: string): boolean {
  return token.length <= MAX_JWT_LENGTH && token.startsWith("eyJ") && token.split(".", 4).length === 3;
}
