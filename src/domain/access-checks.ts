// The per-request checks of issue 22 (values already in the cached entry: no store read): the
// key's IP allowlist against the client address (addressRefused), judged first of all, before the
// tenant binding and before a suspension is said: a stolen key used from outside its allowlist
// learns nothing about itself; then, on an active result, the caller's required scopes against the
// token's scopes (scopeRefused).
import { addressAllowed } from "./address-allowlist.js";
import type { ActiveToken } from "./introspection.js";
import { holdsScopes } from "./key-scopes.js";

/** What an Introspect caller may ask beyond the token (validated: see key-scopes.ts, address-allowlist.ts). */
export interface IntrospectChecks {
  requiredScopes?: readonly string[] | undefined;
  /** Normalised (requireClientAddress). */
  clientAddress?: string | undefined;
}

/** Is an active result refused for this request by its key's IP allowlist? (First of every check.) */
export const addressRefused = (
  result: Pick<ActiveToken, "allowedCidrs">,
  checks: IntrospectChecks | undefined,
): boolean => result.allowedCidrs !== undefined && !addressAllowed(result.allowedCidrs, checks?.clientAddress);

/** Does an active result lack a scope the request requires? (The allowlist is addressRefused's.) */
export const scopeRefused = (result: ActiveToken, checks: IntrospectChecks | undefined): boolean => {
  const required = checks?.requiredScopes;
  return required !== undefined && required.length > 0 && !holdsScopes(result.scopes, required);
};
