// The one reading of a scope list a gateway sends (forward auth's `x-warpflow-required-scopes`
// header, Envoy Check's `required_scopes` context extension): space-separated, as an OAuth 2.0
// `scope` (RFC 6749 section 3.3: scope-tokens joined by SP), as README.md and docs/edge-auth.md
// say. Only SP separates: a tab stays inside its token, which Introspect then refuses as
// INVALID_ARGUMENT (not scope-token syntax) instead of reading a different list than the operator
// meant. Empty tokens (repeated, leading, trailing spaces) are dropped; a repeated scope is kept once.

/** The scopes of a space-separated list; undefined when absent or blank (nothing required). */
export function splitScopes(value: string | undefined): string[] | undefined {
  if (value === undefined || value === "") return undefined;
  const scopes = new Set<string>();
  for (const s of value.split(" ")) if (s !== "") scopes.add(s);
  return scopes.size > 0 ? [...scopes] : undefined;
}
