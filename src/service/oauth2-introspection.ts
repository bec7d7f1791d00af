import type { ActiveToken, Introspection } from "../domain/introspection.js";
import type { Introspector } from "../domain/introspector.js";
import type { OAuth2Introspection } from "../transport/protocol/oauth2-introspection.js";
import { createOAuth2CallerCheck, type OAuth2CallerOptions } from "./oauth2-callers.js";

/** RFC 7662 `token_type`: every token here is presented as an RFC 6750 bearer token. */
export const OAUTH2_TOKEN_TYPE = "Bearer";

const seconds = (d: Date) => Math.floor(d.getTime() / 1000);

/** The space-separated `scope` of an active token (RFC 7662 section 2.2); absent for an unscoped one. */
function scopeOf(a: ActiveToken): string | undefined {
  return a.scopes?.join(" ") || undefined;
}

/**
 * An introspection result as RFC 7662 section 2.2 claims. Inactive: `{active: false}` and nothing
 * else, whatever the reason (the reason stays in metrics). Active: the registered claims this
 * service knows, then the extension claims `tenant_id`, `admin` and `warpflow_token_type`
 * (api_key | session | cognito), repeated in `ext`. `sub` is the Cognito subject, else the key or session id, which
 * is also `client_id` (a Cognito token has no client_id here).
 */
export function rfc7662Claims(r: Introspection, issuer: string | undefined): Record<string, unknown> {
  if (!r.active) return { active: false };
  const id = r.keyId ?? r.sessionId;
  const claims: Record<string, unknown> = { active: true };
  const scope = scopeOf(r);
  if (scope !== undefined) claims.scope = scope;
  if (id !== undefined) claims.client_id = id;
  if (r.username !== undefined) claims.username = r.username;
  claims.token_type = OAUTH2_TOKEN_TYPE;
  if (r.expiresAt !== undefined) claims.exp = seconds(r.expiresAt);
  if (r.issuedAt !== undefined) claims.iat = seconds(r.issuedAt);
  const sub = r.subject ?? id;
  if (sub !== undefined) claims.sub = sub;
  if (issuer !== undefined) claims.iss = issuer;
  claims.tenant_id = r.tenantId;
  claims.admin = r.admin;
  claims.warpflow_token_type = r.tokenType;
  // The extension claims again under `ext`, as Ory Hydra answers: Oathkeeper's oauth2_introspection
  // keeps only `ext` (plus username, client_id, scope) in its session's Extra, for its mutators.
  claims.ext = { tenant_id: r.tenantId, admin: r.admin, warpflow_token_type: r.tokenType };
  return claims;
}

/**
 * POST /oauth2/introspect's service: its callers (oauth2-callers.ts) and Introspect's introspector
 * (the same cache, single flight, last_used_at), with the same result hook (metrics by reason).
 * RFC 7662 carries no expected tenant: the answer is the token's own; no required scopes or client
 * address either (the caller is a gateway, not the token's client), so a key with an IP allowlist is
 * inactive here (no address: fails closed).
 */
export function createOAuth2Introspection(
  deps: OAuth2CallerOptions & {
    introspector: Introspector;
    onIntrospection?: ((result: Introspection) => void) | undefined;
    issuer?: string | undefined;
  },
): OAuth2Introspection {
  const { introspector, onIntrospection, issuer } = deps;
  const callers = createOAuth2CallerCheck(deps);
  return {
    authenticate: callers.authenticate,
    challenges: callers.challenges,
    async introspect(token) {
      const result = await introspector.introspect(token);
      onIntrospection?.(result);
      return result.active
        ? { claims: rfc7662Claims(result, issuer), tenantId: result.tenantId, keyId: result.keyId }
        : { claims: rfc7662Claims(result, issuer) };
    },
  };
}
