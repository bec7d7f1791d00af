/**
 * The one rule for a bearer credential, on every protocol (RFC 6750 section 2.1): the scheme
 * `Bearer` (any case), one or more spaces, then a b64token (letters, digits, `-._~+/`, then
 * optional `=` padding). Anything else (a tab, a no-break space, trailing junk, a second
 * credential) is no bearer token at all: admin calls answer UNAUTHENTICATED. HTTP parsers strip
 * optional whitespace around a header value before it reaches this function.
 */
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i;

/** Extracts the token from an `authorization` header value; undefined when absent or not Bearer. */
export function bearerToken(header: string | undefined | null): string | undefined {
  if (!header) return undefined;
  const m = BEARER.exec(header);
  return m ? m[1] : undefined;
}
