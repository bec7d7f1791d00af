// A cheap look at a JWT before any verification: its shape, and which key (kid) and algorithm it
// claims. Cognito signs with RS256 only, so anything else (alg "none", HS256 key-confusion attempts,
// ES*) is refused here, before aws-jwt-verify sees the token.
export const COGNITO_ALG = "RS256";

export type HeaderCheck =
  | { ok: true; kid: string; payload: Record<string, unknown> }
  | { ok: false; reason: "malformed" | "unverified" };

/** base64url alphabet value of a character code, or -1. */
function b64urlValue(c: number): number {
  if (c >= 65 && c <= 90) return c - 65; // A-Z
  if (c >= 97 && c <= 122) return c - 71; // a-z
  if (c >= 48 && c <= 57) return c + 4; // 0-9
  if (c === 45) return 62; // -
  if (c === 95) return 63; // _
  return -1;
}

/**
 * Is token[start, end) canonical unpadded base64url (RFC 7515 section 2, RFC 4648 section 3.5)?
 * base64url characters only (empty is the canonical encoding of nothing), no "=", a length that encodes whole bytes, and zero unused
 * low bits in the last character. Node's decoder accepts all of these variants, so without this
 * check one signed JWT has many spellings (padding, changed low bits): one cache entry each, and a
 * deny-list keyed on the string would be bypassed.
 */
function isCanonicalSegment(token: string, start: number, end: number): boolean {
  const len = end - start;
  if (len === 0) return true;
  if (len % 4 === 1) return false;
  for (let i = start; i < end; i++) if (b64urlValue(token.charCodeAt(i)) < 0) return false;
  const last = b64urlValue(token.charCodeAt(end - 1));
  if (len % 4 === 2) return (last & 0x0f) === 0; // 1 byte in the last group: 4 unused bits
  if (len % 4 === 3) return (last & 0x03) === 0; // 2 bytes in the last group: 2 unused bits
  return true;
}

/** Exactly three segments, each canonical unpadded base64url. */
export function isCanonicalJwt(token: string): boolean {
  const a = token.indexOf(".");
  const b = a < 0 ? -1 : token.indexOf(".", a + 1);
  if (b < 0 || token.indexOf(".", b + 1) >= 0) return false;
  return (
    isCanonicalSegment(token, 0, a) &&
    isCanonicalSegment(token, a + 1, b) &&
    isCanonicalSegment(token, b + 1, token.length)
  );
}

const isJsonObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

function decodeSegment(segment: string): unknown {
  try {
    return JSON.parse(Buffer.from(segment, "base64url").toString("utf8"));
  } catch {
    return undefined;
  }
}

/**
 * Canonical shape, header (RS256, a kid) and the still unverified payload (a JSON object), so the
 * claims can be checked before aws-jwt-verify reads them (see cognito-claims).
 */
export function checkJwtHeader(token: string): HeaderCheck {
  if (!isCanonicalJwt(token)) return { ok: false, reason: "malformed" };
  const dot = token.indexOf(".");
  const header = decodeSegment(token.slice(0, dot));
  if (!isJsonObject(header)) return { ok: false, reason: "malformed" };
  const { alg, kid } = header;
  if (alg !== COGNITO_ALG) return { ok: false, reason: "unverified" };
  if (typeof kid !== "string" || kid === "") return { ok: false, reason: "unverified" };
  const payload = decodeSegment(token.slice(dot + 1, token.indexOf(".", dot + 1)));
  if (!isJsonObject(payload)) return { ok: false, reason: "malformed" };
  return { ok: true, kid, payload };
}
