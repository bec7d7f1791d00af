// The one rule for a bearer credential, on every protocol (RFC 6750 section 2.1): the scheme
// `Bearer` (any case), one or more spaces, then a b64token (letters, digits, `-._~+/`, then
// optional `=` padding). Anything else (a tab, a no-break space, trailing junk, a second
// credential) is no bearer token at all: admin calls answer UNAUTHENTICATED. Whitespace around the
// whole header value is stripped before it reaches this function: by HTTP/1.1's parser, and for
// HTTP/2 (whose server keeps a padded value as sent, grpc-injector.ts) by the readers of each door
// (json-http.ts headerReader; connect-es's Headers). Native gRPC metadata is taken as sent, as
// grpc-js takes it: a padded value there is no bearer token (refused, as when HTTP/2 dropped it).
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i;

/** Extracts the token from an `authorization` header value; undefined when absent or not Bearer. */
export function bearerToken(header: string | undefined | null): string | undefined {
  if (!header) return undefined;
  const m = BEARER.exec(header);
  return m ? m[1] : undefined;
}

/**
 * How many `authorization` headers a request carries. Node keeps only the first in `headers`
 * (HTTP/1.1 and HTTP/2 alike), so two credentials would silently become the first one.
 */
export function authorizationCount(rawHeaders: readonly string[]): number {
  let n = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length === 13 && name.toLowerCase() === "authorization") n++;
  }
  return n;
}

/**
 * Two or more `authorization` headers are no credential, on every protocol: the header is removed
 * from `headers` (what every handler reads), so the call answers as one without a credential.
 * `rawHeaders` keeps them (/authz names the reason).
 */
export function dropRepeatedAuthorization(headers: Record<string, unknown>, rawHeaders: readonly string[]): void {
  if (headers.authorization !== undefined && authorizationCount(rawHeaders) > 1) delete headers.authorization;
}
