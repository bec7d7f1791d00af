// What /authz answers, as HTTP: the claims headers of an allowed request and the RFC 6750 denials.
// Every phrase here is fixed text: never a token, never an Authorization value.
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { InactiveReason, TokenType, type IntrospectResponse } from "../../gen/warpflow/auth/v1/token_service_pb.js";
import { rfc3339 } from "./json-http.js";

export const REALM = 'Bearer realm="warpflow"';

const TOKEN_TYPES: Partial<Record<TokenType, string>> = {
  [TokenType.API_KEY]: "api_key",
  [TokenType.SESSION]: "session",
  [TokenType.COGNITO]: "cognito",
};

/**
 * The 200 answer's headers. Subject and group names come from the identity provider and may hold
 * commas or non-ASCII characters: each is percent-encoded (encodeURIComponent), so a header value
 * is always valid and the comma list always splits right. Tenant and key ids are plain ASCII.
 */
export function allowHeaders(r: IntrospectResponse): Record<string, string> {
  const h: Record<string, string> = {
    "x-warpflow-tenant-id": r.tenantId,
    "x-warpflow-token-type": TOKEN_TYPES[r.tokenType] ?? "unspecified",
    "content-length": "0",
    "cache-control": "no-store",
  };
  if (r.keyId) h["x-warpflow-key-id"] = r.keyId;
  if (r.sessionId) h["x-warpflow-session-id"] = r.sessionId;
  if (r.subject) h["x-warpflow-subject"] = encodeURIComponent(r.subject);
  if (r.groups.length > 0) h["x-warpflow-groups"] = r.groups.map(encodeURIComponent).join(",");
  if (r.admin) h["x-warpflow-admin"] = "true";
  if (r.deprecated) h["x-warpflow-deprecated"] = "true";
  if (r.expiresAt) h["x-warpflow-expires-at"] = rfc3339(timestampDate(r.expiresAt));
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
  [InactiveReason.SUSPENDED]: "token suspended",
};

const challenge = (error: string, description: string) =>
  `${REALM}, error="${error}", error_description="${description}"`;

/** Built once: the answers are a fixed set. */
const INACTIVE = new Map<InactiveReason, Denial>(
  (Object.keys(PHRASES).map(Number) as InactiveReason[]).map((reason) => {
    const message = PHRASES[reason];
    const d: Denial =
      reason === InactiveReason.TENANT_MISMATCH
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
export function denial(kind: InactiveReason): Denial;
export function denial(kind: "missing" | "invalid_request" | InactiveReason, message?: string): Denial {
  if (kind === "missing") return MISSING;
  if (kind === "invalid_request")
    return {
      status: 401,
      code: "invalid_request",
      message: message!,
      challenge: challenge("invalid_request", message!),
    };
  return INACTIVE.get(kind) ?? INACTIVE.get(InactiveReason.UNSPECIFIED)!;
}
