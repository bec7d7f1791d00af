// Check's answers as Envoy's CheckResponse: the same decisions /authz sends as HTTP
// (transport/protocol/edge-auth-answers.ts: claim headers, RFC 6750 denials), in ext_authz's shape.
// Allowed: status OK, every claim header set with overwrite semantics (a client's forged copy is
// replaced, never appended to), the client's other `x-warpflow-*` headers removed, the claims as
// dynamic metadata. Denied: UNAUTHENTICATED or PERMISSION_DENIED, and the 401/403 Envoy sends the
// client with the RFC 6750 challenge and a small JSON body.
import { create, type JsonObject } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import {
  HeaderValueOption_HeaderAppendAction as AppendAction,
  type HeaderValueOption,
} from "../gen/envoy/config/core/v3/base_pb.js";
import { CheckResponseSchema, type CheckResponse } from "../gen/envoy/service/auth/v3/external_auth_pb.js";
import { StatusCode } from "../gen/envoy/type/v3/http_status_pb.js";
import type { IntrospectResponse } from "../gen/warpflow/auth/v1/token_service_pb.js";
import { claimHeaders, tokenTypeName, type Denial } from "../transport/protocol/edge-auth-answers.js";
import { rfc3339 } from "../transport/protocol/rfc3339.js";

// A header Envoy sets on the upstream request, replacing any value the client sent. Both switches
// say so: `append` = false is what every Envoy version reads first (when present it wins over
// append_action), and append_action OVERWRITE_IF_EXISTS_OR_ADD is what the field's successor
// means; left unset, a recent Envoy would read append_action's default, APPEND_IF_EXISTS_OR_ADD.
const overwrite = (key: string, value: string): HeaderValueOption => ({
  $typeName: "envoy.config.core.v3.HeaderValueOption",
  header: { $typeName: "envoy.config.core.v3.HeaderValue", key, value, rawValue: new Uint8Array(0) },
  append: false,
  appendAction: AppendAction.OVERWRITE_IF_EXISTS_OR_ADD,
  keepEmptyValue: false,
});

/** The claims for the next filters (Envoy keeps them under the filter's name, envoy.filters.http.ext_authz). */
function claimsMetadata(r: IntrospectResponse): JsonObject {
  const m: JsonObject = { tenant_id: r.tenantId, token_type: tokenTypeName(r.tokenType) };
  if (r.keyId) m.key_id = r.keyId;
  if (r.sessionId) m.session_id = r.sessionId;
  if (r.subject) m.subject = r.subject;
  if (r.groups.length > 0) m.groups = [...r.groups];
  m.admin = r.admin;
  m.deprecated = r.deprecated;
  if (r.expiresAt) m.expires_at = rfc3339(timestampDate(r.expiresAt));
  // As x-warpflow-scopes: absent for an unscoped token (full tenant access), so a scoped one must say so.
  if (r.scopes.length > 0) m.scopes = [...r.scopes];
  return m;
}

/** An active token: OK, its claim headers, and the client's own other `x-warpflow-*` headers removed. */
export function allowedCheck(r: IntrospectResponse, clientClaimHeaders: readonly string[]): CheckResponse {
  const headers = claimHeaders(r);
  return create(CheckResponseSchema, {
    status: { code: 0 }, // google.rpc.Code OK
    httpResponse: {
      case: "okResponse",
      value: {
        headers: Object.entries(headers).map(([k, v]) => overwrite(k, v)),
        // Never a header set above: Envoy would remove our own value too.
        headersToRemove: clientClaimHeaders.filter((name) => !(name in headers)),
      },
    },
    dynamicMetadata: claimsMetadata(r),
  });
}

/** A refusal: the gRPC status Envoy reads, and the HTTP answer it sends the client. */
export function deniedCheck(d: Denial): CheckResponse {
  return create(CheckResponseSchema, {
    status: { code: d.status === 403 ? Code.PermissionDenied : Code.Unauthenticated, message: d.message },
    httpResponse: {
      case: "deniedResponse",
      value: {
        status: { code: d.status === 403 ? StatusCode.Forbidden : StatusCode.Unauthorized },
        headers: [
          overwrite("www-authenticate", d.challenge),
          overwrite("content-type", "application/json"),
          overwrite("cache-control", "no-store"),
        ],
        body: JSON.stringify({ error: { code: d.code, message: d.message } }),
      },
    },
  });
}
