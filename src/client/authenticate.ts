// authenticate(Authorization header value): the server's bearer rule (transport/protocol/bearer.ts,
// RFC 6750 section 2.1) and the server's /authz refusals (transport/protocol/edge-auth-answers.ts),
// so a Node HTTP or Connect server gets the same answer /authz would give, in one line.
import { type IntrospectResponse } from "../gen/warpflow/auth/v1/token_service_pb.js";
import { bearerToken } from "../transport/protocol/bearer.js";
import { denial } from "../transport/protocol/edge-auth-answers.js";
import { TokenClientError } from "./errors.js";
import type { RequestChecks } from "./request-checks.js";

/** What introspect() takes besides the token. */
export interface IntrospectOptions extends RequestChecks {
  expectedTenantId?: string | undefined;
}

export interface AuthRefusal {
  ok: false;
  /** 401 (no or bad credential), 403 (token of another tenant), 503 (the service cannot answer). */
  status: 401 | 403 | 503;
  /** RFC 6750 error code (`invalid_token`, `invalid_request`, `insufficient_scope`), "unauthenticated" for no credential, "unavailable". */
  error: string;
  /** Fixed text, never the token. */
  description: string;
  /** The WWW-Authenticate value to send (undefined for 503). */
  wwwAuthenticate: string | undefined;
}

export interface AuthSuccess {
  ok: true;
  claims: IntrospectResponse;
}

export type AuthResult = AuthSuccess | AuthRefusal;

const refusal = (d: ReturnType<typeof denial>): AuthRefusal => ({
  ok: false,
  status: d.status,
  error: d.code,
  description: d.message,
  wwwAuthenticate: d.challenge,
});

const UNAVAILABLE: AuthRefusal = Object.freeze({
  ok: false,
  status: 503,
  error: "unavailable",
  description: "token service unavailable",
  wwwAuthenticate: undefined,
});

export async function authenticateWith(
  introspect: (token: string, opts: IntrospectOptions) => Promise<IntrospectResponse>,
  header: string | string[] | undefined | null,
  expectedTenantId: string | undefined,
  checks: RequestChecks = {},
): Promise<AuthResult> {
  if (Array.isArray(header)) {
    return header.length === 1
      ? authenticateWith(introspect, header[0], expectedTenantId, checks)
      : refusal(
          header.length === 0 ? denial("missing") : denial("invalid_request", "more than one authorization header"),
        );
  }
  const token = bearerToken(header);
  if (token === undefined) {
    return refusal(
      header && /^bearer(?:[ \t]|$)/i.test(header)
        ? denial("invalid_request", "malformed bearer credential")
        : denial("missing"),
    );
  }
  try {
    const claims = await introspect(token, { expectedTenantId, ...checks });
    return claims.active ? { ok: true, claims } : refusal(denial(claims.inactiveReason, checks.requiredScopes));
  } catch (e) {
    // A bad requiredScopes / clientAddress is the caller's bug: thrown, not a 503.
    if (e instanceof TokenClientError && e.code !== "invalid_argument") return UNAVAILABLE; // fail closed
    throw e;
  }
}
