import type { ServerResponse } from "node:http";
import type { TLSSocket } from "node:tls";
import { Code } from "@connectrpc/connect";
import type { IntrospectRequest, TokenService } from "../../gen/warpflow/auth/v1/token_service_pb.js";
import { authorizationCount } from "../protocol/bearer.js";
import type { NodeRequest, NodeResponse } from "../protocol/node-http.js";
import type { CallObserver } from "../protocol/call-observer.js";
import { codeName, httpStatusOf, mapError, OK } from "../protocol/error-mapping.js";
import {
  allowHeaders,
  credentialOf,
  denial,
  expectedTenantOf,
  REALM,
  type Denial,
} from "../protocol/edge-auth-answers.js";
import { headerReader, sendError } from "./json-http.js";
import { splitScopes } from "../protocol/scope-list.js";
import type { CallContext, UnaryHandlers } from "../protocol/unary-handlers.js";
import { nextCallSeq, REQUEST_ID_HEADER } from "../protocol/request-id.js";

/** The method label of /authz in metrics and logs. */
export const AUTHORIZE = "Authorize";
/** Request header a gateway sets to bind a route to a tenant (Introspect's expected_tenant_id). */
export const EXPECTED_TENANT_HEADER = "x-warpflow-expected-tenant-id";
/** Its value for a route open to any tenant: an explicit "not bound", where a binding is required. */
export { ANY_TENANT } from "../protocol/edge-auth-answers.js";
/** Request header a gateway sets with the scopes a route needs (space-separated; issue 22). */
export const REQUIRED_SCOPES_HEADER = "x-warpflow-required-scopes";
/** Request header a gateway sets with the end user's address (nginx: $remote_addr; never a client's header). */
export const CLIENT_ADDRESS_HEADER = "x-warpflow-client-address";

export interface ForwardAuthOptions {
  /**
   * AUTHZ_REQUIRE_TENANT_BINDING: a request without a binding (no x-warpflow-expected-tenant-id, or
   * an empty one) is denied with 403. Node 20's HTTP/2 layer drops a header whose value starts or
   * ends with whitespace (later runtimes keep it: grpc-injector.ts), so there a gateway's "other "
   * arrives as no header at all: without this, that reads as "any tenant"; with it, only `*` does.
   */
  requireTenantBinding?: boolean | undefined;
}

/**
 * The forward-auth endpoint (`/authz` and `/authz/...`, any method) for nginx auth_request, Envoy
 * ext_authz (HTTP service), Traefik ForwardAuth and Caddy forward_auth: the gateway sends the
 * original request's headers; 200 allows it and carries the claims as `x-warpflow-*` headers;
 * 401/403 deny it with an RFC 6750 challenge; 503 when the store cannot answer (every gateway
 * denies on it). A node (req, res) handler: HTTP/1.1 and HTTP/2 (compat API) alike.
 *
 * It is Introspect behind another door: the same handler (caller restrictions, introspector, cache,
 * last_used_at, result metrics), the same observer (method label `Authorize`), the same error
 * mapping. It never reads the request body: the answer goes out at once (a request whose body is
 * still unread when it is answered ends there: http1-server.ts closes that HTTP/1.1 connection,
 * http-router.ts resets that HTTP/2 stream; so a gateway's Content-Length with no body behind it
 * stalls nothing).
 */
export function createForwardAuthHandler(
  introspect: UnaryHandlers<typeof TokenService>["introspect"],
  observer: CallObserver,
  opts: ForwardAuthOptions = {},
): (req: NodeRequest, res: NodeResponse) => void {
  const requireBinding = opts.requireTenantBinding === true;
  return (req, res) => {
    const start = process.hrtime.bigint();
    const ctx: CallContext = {
      bearer: undefined,
      header: headerReader(req),
      clientCertVerified: () => (req.socket as Partial<TLSSocket>).authorized === true,
      seq: nextCallSeq(),
    };
    // Read as every other header here (headerReader: trimmed as HTTP/1.1 trims it): over HTTP/2 a
    // padded "Bearer <token> " arrives as sent and was refused where HTTP/1.1 allowed it.
    const credential = credentialOf(authorizationCount(req.rawHeaders), ctx.header!("authorization"));
    if (typeof credential !== "string") return finishDenied(res, credential, start, ctx);
    const bearer = credential;
    ctx.bearer = bearer;
    const expected = expectedTenantOf(ctx.header!(EXPECTED_TENANT_HEADER), requireBinding);
    if (typeof expected !== "string") return finishDenied(res, expected, start, ctx);
    // The message create() would build (two proto3 strings), without its reflective walk.
    const message: IntrospectRequest = {
      $typeName: "warpflow.auth.v1.IntrospectRequest",
      token: bearer,
      expectedTenantId: expected,
      requiredScopes: splitScopes(ctx.header!(REQUIRED_SCOPES_HEADER)) ?? [],
      clientAddress: ctx.header!(CLIENT_ADDRESS_HEADER) ?? "",
    };
    introspect(message, ctx).then(
      (r) => {
        if (!r.active) return finishDenied(res, denial(r.inactiveReason, message.requiredScopes), start, ctx);
        ctx.tenantId = r.tenantId;
        ctx.keyId = r.keyId || undefined;
        observer.end(AUTHORIZE, OK, start, ctx);
        const headers = allowHeaders(r);
        // The id exists only when the call was logged (debug): an allowed call pays nothing for it.
        if (ctx.requestId !== undefined) headers[REQUEST_ID_HEADER] = ctx.requestId;
        (res as ServerResponse).writeHead(200, headers);
        res.end();
      },
      (err: unknown) => {
        const mapped = mapError(err);
        observer.end(AUTHORIZE, mapped.code, start, ctx, mapped.unexpected ? err : mapped.message);
        const status = httpStatusOf(mapped.code);
        const extra: Record<string, string> = status === 401 ? { "www-authenticate": REALM } : {};
        if (status === 503) extra["retry-after"] = "1";
        if (ctx.requestId !== undefined) extra[REQUEST_ID_HEADER] = ctx.requestId;
        sendError(res, status, codeName(mapped.code), mapped.message, extra);
      },
    );
  };

  function finishDenied(res: NodeResponse, d: Denial, start: bigint, ctx: CallContext): void {
    // An expected outcome (like an inactive Introspect): the code labels the metric, no log at info.
    observer.end(AUTHORIZE, d.status === 403 ? Code.PermissionDenied : Code.Unauthenticated, start, ctx);
    sendError(res, d.status, d.code, d.message, {
      "www-authenticate": d.challenge,
      ...(ctx.requestId !== undefined && { [REQUEST_ID_HEADER]: ctx.requestId }),
    });
  }
}
