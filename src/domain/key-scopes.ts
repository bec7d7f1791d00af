// Scopes (issue 22): what a key or session may do, as named strings the gateway and the services
// behind it agree on. A token without scopes has full tenant access (as before scopes existed).
// Validation never echoes a value: messages name the field and the position only.
import { DomainError, invalidArgument } from "./errors.js";

/** A scope a key or session may carry. */
export const SCOPE_PATTERN = /^[a-z][a-z0-9_.:-]{0,63}$/;
export const MAX_SCOPES = 32;
/**
 * A scope a caller may require (IntrospectRequest.required_scopes, the /authz header): RFC 6749
 * scope-token syntax (printable ASCII, no space, '"' or '\'), so Cognito resource-server scopes
 * ("https://api.example.com/read") can be required too. At most 128 characters.
 */
const REQUIRED_SCOPE_PATTERN = /^[\x21\x23-\x5b\x5d-\x7e]{1,128}$/;

function validated(values: readonly string[], field: string, pattern: RegExp, rule: string): string[] | undefined {
  // None: the common case per Check call (an address and no required_scopes): no Set, no closure.
  if (values.length === 0) return undefined;
  if (values.length > 4 * MAX_SCOPES) throw invalidArgument(field, `at most ${MAX_SCOPES} scopes`);
  const seen = new Set<string>();
  values.forEach((v, i) => {
    if (typeof v !== "string" || !pattern.test(v)) throw invalidArgument(`${field}[${i}]`, rule);
    seen.add(v);
  });
  if (seen.size > MAX_SCOPES) throw invalidArgument(field, `at most ${MAX_SCOPES} scopes`);
  return seen.size === 0 ? undefined : [...seen];
}

/** A key's or session's scopes, deduplicated in the order given; undefined when none. */
export const requireScopes = (values: readonly string[], field = "scopes"): string[] | undefined =>
  validated(values, field, SCOPE_PATTERN, "must match ^[a-z][a-z0-9_.:-]{0,63}$");

/** Scopes a caller requires; undefined when none. */
export const requireRequiredScopes = (values: readonly string[], field = "required_scopes"): string[] | undefined =>
  validated(values, field, REQUIRED_SCOPE_PATTERN, "must be 1-128 characters of RFC 6749 scope-token syntax");

/**
 * Does a token with `granted` scopes hold every one of `required`? undefined: unscoped (full
 * access). An empty list holds none (no token is answered with one: a Cognito token whose `scope`
 * claim names nothing usable is not accepted, see cognito-claims.ts).
 */
export function holdsScopes(granted: readonly string[] | undefined, required: readonly string[]): boolean {
  if (granted === undefined) return true;
  for (const r of required) if (!granted.includes(r)) return false;
  return true;
}

/**
 * The scopes a credential holding `creator` (undefined: unscoped) may grant when it asks for
 * `requested` (undefined: none asked): a subset of its own; none asked means its own.
 * PERMISSION_DENIED, naming no scope, when it asks for one it does not hold.
 */
export function grantableScopes(
  creator: readonly string[] | undefined,
  requested: readonly string[] | undefined,
): string[] | undefined {
  const own = creator !== undefined && creator.length > 0 ? creator : undefined;
  if (requested === undefined) return own ? [...own] : undefined;
  if (own && !holdsScopes(own, requested)) {
    throw new DomainError("permission_denied", "scopes: asks for a scope the calling credential does not hold");
  }
  return [...requested];
}

/**
 * A key minted by a credential holding `creator` scopes (a scoped platform admin key) may hold no
 * more than its creator: `resulting` (undefined or empty: unscoped, full access) must be a non-empty
 * subset of a scoped creator's, else PERMISSION_DENIED naming no scope. Without this, a scoped admin
 * key could mint an unscoped admin key (or rotate itself unscoped) and then any session.
 */
export function requireWithinCreator(
  creator: readonly string[] | undefined,
  resulting: readonly string[] | undefined,
): void {
  if (creator === undefined || creator.length === 0) return;
  if (resulting === undefined || resulting.length === 0 || !holdsScopes(creator, resulting)) {
    throw new DomainError(
      "permission_denied",
      "scopes: a scoped credential may only mint keys holding a subset of its own scopes",
    );
  }
}

/**
 * The scopes of a space-separated OAuth `scope` claim (Cognito access tokens), bounded, only
 * well-formed ones. No claim: undefined (unscoped). A claim naming nothing usable: [] (holds no
 * scope; the Cognito adapter refuses such a token, since every answer would read [] as unscoped).
 */
export function scopesFromClaim(claim: unknown): string[] | undefined {
  if (claim === undefined) return undefined;
  if (typeof claim !== "string") return [];
  const out = new Set<string>();
  for (const s of claim.split(" ")) {
    if (out.size >= 4 * MAX_SCOPES) break;
    if (REQUIRED_SCOPE_PATTERN.test(s)) out.add(s);
  }
  return [...out];
}
