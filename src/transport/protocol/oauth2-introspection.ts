// The contract between POST /oauth2/introspect (transport/http/oauth2-introspect.ts: HTTP, the
// form, the answers) and its service (service/oauth2-introspection.ts: who may call, what a token
// means as RFC 7662 claims). Here so neither imports the other.

/** What the endpoint knows of its caller, read from the request (never logged). */
export interface OAuth2Caller {
  /** The one `authorization` header (undefined when absent or repeated: see authorizationCount). */
  authorization: string | undefined;
  /** How many `authorization` headers the request carries. */
  authorizationCount: number;
  /** The x-warpflow-caller-token header (INTROSPECT_CALLER_TOKEN, as Introspect and /authz take it). */
  callerToken: string | undefined;
  /** A client certificate verified against TLS_CLIENT_CA_FILE. */
  clientCertVerified: boolean;
}

export type OAuth2CallerCheck =
  /** `clientId`: the Basic client id, or "caller-token" / "client-cert" (log field, never a secret). */
  | { ok: true; clientId: string }
  /** `description`: fixed text for error_description. */
  | { ok: false; description: string };

export interface OAuth2Introspection {
  authenticate(caller: OAuth2Caller): OAuth2CallerCheck;
  /** The WWW-Authenticate challenges of a 401 (one header line each). */
  readonly challenges: readonly string[];
  /**
   * The RFC 7662 answer for a token: `{active: false}` or the active token's claims. Rejects only
   * when the token cannot be judged (store down: StoreUnavailableError). `tenantId`/`keyId`: log fields.
   */
  introspect(token: string): Promise<{ claims: Record<string, unknown>; tenantId?: string; keyId?: string }>;
}
