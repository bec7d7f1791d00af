// What the edge doors answer (/authz over HTTP, Envoy's ext_authz Check over gRPC), as HTTP: the
// claims headers of an allowed request and the RFC 6750 denials, plus the two rules they share on
// the way in (which credential, which tenant binding). Every phrase here is fixed text: never a
// token, never an Authorization value.
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { InactiveReason, TokenType, type IntrospectResponse } from "../../gen/warpflow/auth/v1/token_service_pb.js";
import { bearerToken } from "./bearer.js";
import { rfc3339 } from "./rfc3339.js";

export const REALM = 'Bearer realm="warpflow"';

const TOKEN_TYPES: Partial<Record<TokenType, string>> = {
  [TokenType.API_KEY]: "api_key",
  [TokenType.SESSION]: "session",
  [TokenType.COGNITO]: "cognito",
};

/** Every claim header starts with this; a client's own copies never reach an upstream as sent. */
export const CLAIM_HEADER_PREFIX = "x-warpflow-";

/** The token type as the claim header and Check's dynamic metadata name it. */
export const tokenTypeName = (t: TokenType): string => TOKEN_TYPES[t] ?? "unspecified";

/** The 200 answer's headers: the claims (claimHeaders) and no body, not to be cached. */
export function allowHeaders(r: IntrospectResponse): Record<string, string> {
  const h = claimHeaders(r);
  h["content-length"] = "0";
  h["cache-control"] = "no-store";
  return h;
}

/**
 * The claims of an active token as `x-warpflow-*` headers. Subject and group names come from the
 * identity provider and may hold commas or non-ASCII characters: each is percent-encoded
 * (encodeURIComponent), so a header value is always valid and the comma list always splits right.
 * Tenant and key ids are plain ASCII.
 */
export function claimHeaders(r: IntrospectResponse): Record<string, string> {
  const h: Record<string, string> = {
    "x-warpflow-tenant-id": r.tenantId,
    "x-warpflow-token-type": tokenTypeName(r.tokenType),
  };
  if (r.keyId) h["x-warpflow-key-id"] = r.keyId;
  if (r.sessionId) h["x-warpflow-session-id"] = r.sessionId;
  if (r.subject) h["x-warpflow-subject"] = encodeURIComponent(r.subject);
  if (r.groups.length > 0) h["x-warpflow-groups"] = r.groups.map(encodeURIComponent).join(",");
  if (r.admin) h["x-warpflow-admin"] = "true";
  if (r.deprecated) h["x-warpflow-deprecated"] = "true";
  if (r.expiresAt) h["x-warpflow-expires-at"] = rfc3339(timestampDate(r.expiresAt));
  // Space-separated; absent: the token is not restricted by scopes (full tenant access).
  if (r.scopes.length > 0) h["x-warpflow-scopes"] = r.scopes.join(" "); // scope-tokens: visible ASCII, no encoding
  return h;
}

export interface Denial {
  status: 401 | 403;
  /** The JSON body's error code: the RFC 6750 error, or "unauthenticated" for no credential. */
  code: string;
  message: string;
  /** The WWW-Authenticate value. */
  challenge: string;
}

const PHRASES: Record<InactiveReason, string> = {
  [InactiveReason.UNSPECIFIED]: "token not active",
  [InactiveReason.MALFORMED]: "token malformed",
  [InactiveReason.NOT_FOUND]: "token unknown",
  [InactiveReason.REVOKED]: "token revoked",
  [InactiveReason.EXPIRED]: "token expired",
  [InactiveReason.TENANT_POLICY]: "token type disabled by tenant policy",
  [InactiveReason.TENANT_MISMATCH]: "token not valid for this tenant",
  [InactiveReason.UNVERIFIED]: "token not verified",
  [InactiveReason.UNSUPPORTED]: "token type not accepted",
  [InactiveReason.INSUFFICIENT_SCOPE]: "token lacks a required scope",
  // A stolen key used from outside its IP allowlist: answered to the end user exactly as a token
  // never issued, so the edge does not confirm the key is live. The caller of Introspect still
  // gets ADDRESS_NOT_ALLOWED, the operator the reason in the Introspect result metric.
  [InactiveReason.ADDRESS_NOT_ALLOWED]: "token unknown",
  [InactiveReason.SUSPENDED]: "token suspended",
};

const challenge = (error: string, description: string) =>
  `${REALM}, error="${error}", error_description="${description}"`;

/** Built once: the answers are a fixed set. */
const INACTIVE = new Map<InactiveReason, Denial>(
  (Object.keys(PHRASES).map(Number) as InactiveReason[]).map((reason) => {
    const message = PHRASES[reason];
    const d: Denial =
      reason === InactiveReason.TENANT_MISMATCH || reason === InactiveReason.INSUFFICIENT_SCOPE
        ? { status: 403, code: "insufficient_scope", message, challenge: challenge("insufficient_scope", message) }
        : { status: 401, code: "invalid_token", message, challenge: challenge("invalid_token", message) };
    return [reason, d];
  }),
);

/** AUTHZ_REQUIRE_TENANT_BINDING and no x-warpflow-expected-tenant-id: the route's binding is missing. */
export const UNBOUND: Denial = {
  status: 403,
  code: "insufficient_scope",
  message: "route has no tenant binding",
  challenge: challenge("insufficient_scope", "route has no tenant binding"),
};

const MISSING: Denial = { status: 401, code: "unauthenticated", message: "bearer token required", challenge: REALM };

/**
 * No credential (RFC 6750 3.1: no error code), an inactive token (`invalid_token`, 401), a token
 * of another tenant (`insufficient_scope`, 403), or a request /authz cannot read a credential from
 * (`invalid_request`: RFC 6750 suggests 400, but gateways turn any answer other than 2xx, 401 and
 * 403 into a 500, so it is 401 here: the client is told to send one proper bearer token).
 */
export function denial(kind: "missing"): Denial;
export function denial(kind: "invalid_request", message: string): Denial;
export function denial(kind: InactiveReason, requiredScopes?: readonly string[]): Denial;
export function denial(
  kind: "missing" | "invalid_request" | InactiveReason,
  message?: string | readonly string[],
): Denial {
  if (kind === "missing") return MISSING;
  if (kind === "invalid_request")
    return {
      status: 401,
      code: "invalid_request",
      message: message as string,
      challenge: challenge("invalid_request", message as string),
    };
  const d = INACTIVE.get(kind) ?? INACTIVE.get(InactiveReason.UNSPECIFIED)!;
  // RFC 6750 3: the scope attribute names the scopes the resource needs (validated scope-tokens:
  // no quote or backslash can reach the header).
  if (kind === InactiveReason.INSUFFICIENT_SCOPE && Array.isArray(message) && message.length > 0) {
    return { ...d, challenge: `${d.challenge}, scope="${message.join(" ")}"` };
  }
  return d;
}

/**
 * The credential of a request from its `authorization` headers (`count` of them, `value` the
 * first): the bearer token, or the denial. No header is RFC 6750's bare challenge; two or more, or
 * a Bearer credential that breaks the RFC 6750 syntax, is `invalid_request`; any other scheme
 * (Basic, ...) is no bearer credential at all.
 */
export function credentialOf(count: number, value: string | undefined): string | Denial {
  const bearer = count === 1 ? bearerToken(value) : undefined;
  if (bearer !== undefined) return bearer;
  if (count === 0) return MISSING;
  if (count > 1) return TWO_CREDENTIALS;
  return /^bearer(?:[ \t]|$)/i.test(value ?? "") ? MALFORMED_BEARER : MISSING;
}

const TWO_CREDENTIALS = denial("invalid_request", "more than one authorization header");
const MALFORMED_BEARER = denial("invalid_request", "malformed bearer credential");

/** The binding's value for a route open to any tenant: an explicit "not bound". */
export const ANY_TENANT = "*";

/**
 * The tenant a route is bound to (Introspect's expected_tenant_id: "" for any tenant), from the
 * binding the gateway sent (/authz: x-warpflow-expected-tenant-id; Check: a context extension), or
 * UNBOUND when a binding is required (AUTHZ_REQUIRE_TENANT_BINDING) and none was sent: then only
 * `*` opens a route to every tenant.
 */
export function expectedTenantOf(bound: string | undefined, requireBinding: boolean): string | Denial {
  if (!bound) return requireBinding ? UNBOUND : "";
  return bound === ANY_TENANT ? "" : bound;
}
