// What Check reads from Envoy's CheckRequest (envoy.service.auth.v3, the subset in proto/envoy/):
// the `authorization` header (from `headers`, or from `header_map` when the filter's
// encode_raw_headers is on), the route's tenant binding and required scopes (context extensions
// the operator sets per route), the client's address, and the names of the client's own
// `x-warpflow-*` headers (to be removed before the request goes upstream). No value read here is
// ever logged or echoed; only header NAMES of the `x-warpflow-` family go back (to Envoy).
import type { CheckRequest } from "../gen/envoy/service/auth/v3/external_auth_pb.js";
import { CLAIM_HEADER_PREFIX } from "../transport/protocol/edge-auth-answers.js";
import { splitScopes } from "../transport/protocol/scope-list.js";

/** Context extension (ExtAuthzPerRoute check_settings.context_extensions) binding a route to a tenant. */
export const TENANT_EXTENSION = "tenant_id";
/** Context extension listing the scopes a route requires, space-separated (as an OAuth 2.0 scope). */
export const SCOPES_EXTENSION = "required_scopes";
/**
 * At most this many distinct `x-warpflow-*` names from one client (Envoy's default header count
 * limit). More is the client's doing: Check denies the request (ext-authz-handlers.ts), it does not
 * fail the call, which an Envoy with `failure_mode_allow: true` would let through.
 */
export const MAX_CLIENT_CLAIM_HEADERS = 100;

export interface CheckInput {
  /** How many `authorization` headers the request carried, and the first one's value. */
  authorizationCount: number;
  authorization: string | undefined;
  /** The tenant_id context extension (absent: undefined). */
  tenantBinding: string | undefined;
  /** The required_scopes context extension, split (absent or blank: undefined). */
  requiredScopes: string[] | undefined;
  /** The downstream client's IP (source.address.socket_address.address), if Envoy sent one. */
  clientAddress: string | undefined;
  /** Lower-case names of the client's own `x-warpflow-*` headers, each once (at most the bound). */
  clientClaimHeaders: readonly string[];
  /** The client sent more than MAX_CLIENT_CLAIM_HEADERS `x-warpflow-*` names: to be denied. */
  tooManyClaimHeaders: boolean;
}

const NONE: readonly string[] = Object.freeze([]);
/** An RFC 9110 field name (lower-case): anything else is no header Envoy would forward. */
const FIELD_NAME = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;

export function checkInputOf(req: CheckRequest): CheckInput {
  const attributes = req.attributes;
  const http = attributes?.request?.http;
  let authorizationCount = 0;
  let authorization: string | undefined;
  let claims: Set<string> | undefined;
  let tooManyClaimHeaders = false;
  /** The header's role: 1 authorization, 2 a client's own x-warpflow-* header, 0 anything else. */
  const roleOf = (key: string): 0 | 1 | 2 => {
    const name = key.toLowerCase(); // Envoy sends lower-case names; header_map may not
    if (name === "authorization") return 1;
    if (!name.startsWith(CLAIM_HEADER_PREFIX) || !FIELD_NAME.test(name)) return 0;
    claims ??= new Set();
    if (claims.size < MAX_CLIENT_CLAIM_HEADERS) claims.add(name);
    else if (!claims.has(name)) tooManyClaimHeaders = true;
    return 2;
  };
  if (http) {
    const headers = http.headers;
    for (const key in headers) {
      if (roleOf(key) === 1 && authorizationCount++ === 0) authorization = headers[key];
    }
    // encode_raw_headers: key and raw_value (bytes; a bearer token is ASCII, latin1 keeps every byte
    // as one character so a non-ASCII byte fails the bearer rule instead of being replaced).
    const raw = http.headerMap?.headers;
    if (raw) {
      for (const h of raw) {
        if (roleOf(h.key) === 1 && authorizationCount++ === 0) {
          authorization = h.rawValue.length > 0 ? Buffer.from(h.rawValue).toString("latin1") : h.value;
        }
      }
    }
  }
  const extensions = attributes?.contextExtensions;
  const scopes = splitScopes(extensions?.[SCOPES_EXTENSION]);
  const address = attributes?.source?.address?.address;
  return {
    authorizationCount,
    authorization,
    tenantBinding: extensions?.[TENANT_EXTENSION],
    requiredScopes: scopes && scopes.length > 0 ? scopes : undefined,
    clientAddress: address?.case === "socketAddress" && address.value.address ? address.value.address : undefined,
    clientClaimHeaders: claims ? [...claims] : NONE,
    tooManyClaimHeaders,
  };
}
