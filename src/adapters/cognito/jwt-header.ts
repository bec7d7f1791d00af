/**
 * A cheap look at a JWT's header before any verification: which key (kid) and algorithm it claims.
 * Cognito signs with RS256 only, so anything else (alg "none", HS256 key-confusion attempts, ES*)
 * is refused here, before aws-jwt-verify sees the token.
 */
export const COGNITO_ALG = "RS256";

export type HeaderCheck = { ok: true; kid: string } | { ok: false; reason: "malformed" | "unverified" };

export function checkJwtHeader(token: string): HeaderCheck {
  const dot = token.indexOf(".");
  if (dot <= 0) return { ok: false, reason: "malformed" };
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(token.slice(0, dot), "base64url").toString("utf8"));
  } catch {
    return { ok: false, reason: "malformed" };
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) return { ok: false, reason: "malformed" };
  const { alg, kid } = header as { alg?: unknown; kid?: unknown };
  if (alg !== COGNITO_ALG) return { ok: false, reason: "unverified" };
  if (typeof kid !== "string" || kid === "") return { ok: false, reason: "unverified" };
  return { ok: true, kid };
}
