import type { JwtPayload } from "aws-jwt-verify/jwt-model";
import { ADMIN_TENANT_ID, isValidTenantId } from "../../domain/tenant-id.js";
import type { JwtVerification } from "../../ports/jwt-verifier.js";

/**
 * Verified Cognito payload -> the port's claims. Runs only after aws-jwt-verify accepted the
 * signature, issuer, expiry, token_use and client id. A token without a usable tenant, subject or
 * expiry is "unverified": it proves nothing this service can act on.
 */
export function claimsFrom(payload: JwtPayload, tenantClaim: string): JwtVerification {
  const tenantId = payload[tenantClaim];
  if (typeof tenantId !== "string" || !isValidTenantId(tenantId) || tenantId === ADMIN_TENANT_ID) {
    return { ok: false, reason: "unverified" };
  }
  // aws-jwt-verify only checks exp when present; a Cognito token always has one, so require it.
  if (typeof payload.exp !== "number" || !Number.isFinite(payload.exp)) return { ok: false, reason: "unverified" };
  if (typeof payload.sub !== "string" || payload.sub === "") return { ok: false, reason: "unverified" };
  const groups = payload["cognito:groups"];
  const username = payload.token_use === "id" ? payload["cognito:username"] : payload.username;
  return {
    ok: true,
    claims: {
      tenantId,
      subject: payload.sub,
      expiresAt: new Date(payload.exp * 1000),
      groups: Array.isArray(groups) && groups.every((g) => typeof g === "string") ? [...(groups as string[])] : [],
      email: typeof payload.email === "string" ? payload.email : undefined,
      username: typeof username === "string" ? username : undefined,
    },
  };
}
