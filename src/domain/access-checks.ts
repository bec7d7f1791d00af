// The per-request checks of issue 22, run on an active result (values already in the cached
// entry: no store read): the key's IP allowlist against the client address, then the caller's
// required scopes against the token's scopes. The allowlist is judged before the tenant binding
// too (addressRefused): a stolen key used from outside its allowlist learns nothing about itself,
// not even through a route bound to another tenant (a tenant mismatch is only said of a live token).
import { addressAllowed } from "./address-allowlist.js";
import type { ActiveToken } from "./introspection.js";
import { holdsScopes } from "./key-scopes.js";

/** What an Introspect caller may ask beyond the token (validated: see key-scopes.ts, address-allowlist.ts). */
export interface IntrospectChecks {
  requiredScopes?: readonly string[] | undefined;
  /** Normalised (requireClientAddress). */
  clientAddress?: string | undefined;
}

/** Does a result need checking at all? (The hot path's one test when nothing was asked.) */
export const needsChecks = (result: ActiveToken, checks: IntrospectChecks | undefined): boolean =>
  result.allowedCidrs !== undefined || (checks?.requiredScopes !== undefined && checks.requiredScopes.length > 0);

/** Is an active result refused for this request by its key's IP allowlist? (First of every check.) */
export const addressRefused = (
  result: Pick<ActiveToken, "allowedCidrs">,
  checks: IntrospectChecks | undefined,
): boolean => result.allowedCidrs !== undefined && !addressAllowed(result.allowedCidrs, checks?.clientAddress);

/** Why an active result is refused for this request, or undefined when it is granted. */
export function refusalOf(
  result: ActiveToken,
  checks: IntrospectChecks | undefined,
): "address_not_allowed" | "insufficient_scope" | undefined {
  if (!addressAllowed(result.allowedCidrs, checks?.clientAddress)) return "address_not_allowed";
  const required = checks?.requiredScopes;
  if (required !== undefined && required.length > 0 && !holdsScopes(result.scopes, required)) {
    return "insufficient_scope";
  }
  return undefined;
}
