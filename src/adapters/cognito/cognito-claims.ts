import { scopesFromClaim } from "../../domain/key-scopes.js";
import type { JwtPayload } from "aws-jwt-verify/jwt-model";
import { ADMIN_TENANT_ID, isValidTenantId } from "../../domain/tenant-id.js";
import type { JwtVerification } from "../../ports/jwt-verifier.js";

/**
 * Latest NumericDate (seconds) a claim may carry: 9999-12-31T23:59:59Z, the last second a
 * google.protobuf.Timestamp (and so the Introspect answer) can express. A larger `exp` (say 1e20)
 * is no Date at all: it would make Introspect fail while the token still authorized admin calls.
 */
export const MAX_NUMERIC_DATE = 253_402_300_799;

const isNumericDate = (v: unknown): v is number =>
  typeof v === "number" && Number.isFinite(v) && v >= 0 && v <= MAX_NUMERIC_DATE;
const absentOr = (v: unknown, ok: (v: unknown) => boolean): boolean => v === undefined || ok(v);
const isString = (v: unknown): v is string => typeof v === "string";
const isStringList = (v: unknown): v is string[] => Array.isArray(v) && v.every(isString);

/**
 * Are the claims this service or aws-jwt-verify reads of the right type and in range? Checked on the
 * still unverified payload before aws-jwt-verify sees it (the library reports some wrong types as a
 * parse error, and an `exp` or `nbf` far outside the Date range makes its error message itself throw
 * a RangeError), and again by claimsFrom on the verified payload.
 */
export function claimShapesOk(payload: Record<string, unknown>, tenantClaim: string): boolean {
  const tenantId = payload[tenantClaim];
  if (typeof tenantId !== "string" || !isValidTenantId(tenantId) || tenantId === ADMIN_TENANT_ID) return false;
  if (!isNumericDate(payload.exp)) return false;
  if (
    !absentOr(payload.iat, isNumericDate) ||
    !absentOr(payload.nbf, isNumericDate) ||
    !absentOr(payload.auth_time, isNumericDate)
  )
    return false;
  if (typeof payload.sub !== "string" || payload.sub === "") return false;
  const username = payload.token_use === "id" ? payload["cognito:username"] : payload.username;
  if (
    !absentOr(payload["cognito:groups"], isStringList) ||
    !absentOr(payload.email, isString) ||
    !absentOr(username, isString)
  )
    return false;
  // Read by aws-jwt-verify: the same rule (a wrong type proves nothing), not "malformed".
  for (const claim of ["iss", "scope", "jti", "client_id", "token_use"])
    if (!absentOr(payload[claim], isString)) return false;
  // A `scope` naming no usable scope holds none, and no door can say so: an empty scope list is
  // "unscoped" (full tenant access) on Introspect, /authz, Check and RFC 7662 alike.
  if (payload.scope !== undefined && (scopesFromClaim(payload.scope) ?? []).length === 0) return false;
  return absentOr(payload.aud, (v) => isString(v) || isStringList(v));
}

/**
 * Verified Cognito payload -> the port's claims. Runs only after aws-jwt-verify accepted the
 * signature, issuer, expiry, token_use and client id. A token is "unverified" (it proves nothing
 * this service can act on) when any claim this service reads is missing where required, of the
 * wrong type, or out of range (claimShapesOk):
 * - tenant claim: a valid tenant id, not the reserved `admin`;
 * - sub: a non-empty string; exp: a NumericDate in [0, 9999-12-31] (a Cognito token always has one);
 * - iat, nbf, auth_time when present: NumericDates in the same range;
 * - cognito:groups, email, username / cognito:username when present: a string list, strings;
 * - iss, scope, jti, client_id, token_use when present: strings; aud: a string or a string list;
 * - scope when present: naming at least one well-formed scope (scopesFromClaim). Else the token
 *   would be answered with no scopes, which every door reads as unscoped (full tenant access).
 * Introspect and admin authorization both read these claims from here, so a token is accepted by
 * both or by neither.
 */
export function claimsFrom(payload: JwtPayload, tenantClaim: string): JwtVerification {
  if (!claimShapesOk(payload, tenantClaim)) return { ok: false, reason: "unverified" };
  const groups = payload["cognito:groups"] as string[] | undefined;
  const username = payload.token_use === "id" ? payload["cognito:username"] : payload.username;
  return {
    ok: true,
    claims: {
      tenantId: payload[tenantClaim] as string,
      subject: payload.sub!,
      expiresAt: new Date((payload.exp as number) * 1000),
      groups: groups === undefined ? [] : [...groups],
      email: payload.email as string | undefined,
      username: username as string | undefined,
      scopes: scopesFromClaim(payload.scope),
    },
  };
}
