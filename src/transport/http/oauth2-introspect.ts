import type { TLSSocket } from "node:tls";
import { Code } from "@connectrpc/connect";
import { authorizationCount } from "../protocol/bearer.js";
import type { CallObserver } from "../protocol/call-observer.js";
import { mapError, OK } from "../protocol/error-mapping.js";
import type { NodeRequest, NodeResponse } from "../protocol/node-http.js";
import type { OAuth2Introspection } from "../protocol/oauth2-introspection.js";
import { peerOf } from "../protocol/peer.js";
import { nextCallSeq, REQUEST_ID_HEADER } from "../protocol/request-id.js";
import type { CallContext } from "../protocol/unary-handlers.js";
import { contentTypeProblem, headerReader, HttpError, readBody, sendJson } from "./json-http.js";

/** The path, and the method label in metrics and logs. */
export const OAUTH2_INTROSPECT_PATH = "/oauth2/introspect";
export const OAUTH2_INTROSPECT = "OAuth2Introspect";

/** An RFC 6749 section 5.2 error: status, `error`, fixed `error_description` (never request text). */
class OAuthError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    description: string,
  ) {
    super(description);
  }
}

/**
 * POST /oauth2/introspect, RFC 7662 section 2: a form (`token`, optional `token_type_hint`, which
 * is accepted and ignored: every token kind is recognised by its form), from an authenticated
 * caller (401 with WWW-Authenticate otherwise). Answers `{"active": false}` for every inactive
 * token, the claims for an active one; Cache-Control: no-store. Order of checks: caller (401,
 * before any body byte is read), method (405), content type (415), body (413, 400), then the token.
 * Errors are RFC 6749 JSON `{"error", "error_description"}` with fixed text: nothing of the
 * request is echoed or logged.
 */
export function createOAuth2IntrospectHandler(
  service: OAuth2Introspection,
  observer: CallObserver,
  maxBodyBytes: number,
): (req: NodeRequest, res: NodeResponse) => void {
  return (req, res) => {
    const start = process.hrtime.bigint();
    const ctx: CallContext = {
      bearer: undefined,
      header: headerReader(req),
      peer: peerOf(req.socket),
      protocol: "rest",
      seq: nextCallSeq(),
    };
    const idHeader = (): Record<string, string> =>
      ctx.requestId !== undefined ? { [REQUEST_ID_HEADER]: ctx.requestId } : {};
    handle(req, ctx).then(
      ({ claims }) => {
        observer.end(OAUTH2_INTROSPECT, OK, start, ctx);
        sendJson(res, 200, claims, { pragma: "no-cache", ...idHeader() });
      },
      (err: unknown) => {
        const e = err instanceof OAuthError ? err : fromOther(err);
        // A bug is logged with its error; every expected refusal with its fixed description.
        const unexpected = e.status === 500 && mapError(err).unexpected;
        observer.end(OAUTH2_INTROSPECT, codeOf(e.status), start, ctx, unexpected ? err : e.message);
        const headers: Record<string, string | string[]> = { pragma: "no-cache", ...idHeader() };
        if (e.status === 401) headers["www-authenticate"] = [...service.challenges];
        if (e.status === 405) headers.allow = "POST";
        if (e.status === 503) headers["retry-after"] = "1";
        sendJson(res, e.status, { error: e.error, error_description: e.message }, headers as Record<string, string>);
      },
    );
  };

  async function handle(req: NodeRequest, ctx: CallContext) {
    const count = authorizationCount(req.rawHeaders);
    const header = ctx.header!;
    const caller = service.authenticate({
      authorization: count === 1 ? header("authorization") : undefined,
      authorizationCount: count,
      callerToken: header("x-warpflow-caller-token"),
      clientCertVerified: (req.socket as Partial<TLSSocket>).authorized === true,
    });
    if (!caller.ok) throw new OAuthError(401, "invalid_client", caller.description);
    ctx.actor = caller.clientId;
    // After the caller: a stranger's wrong method is a 401 (logged at debug), not a 405 at info.
    if (req.method !== "POST") throw new OAuthError(405, "invalid_request", "use POST");
    checkContentType(header("content-type"));
    const form = parseForm(await readBody(req, maxBodyBytes));
    const result = await service.introspect(form.token);
    ctx.tenantId = result.tenantId;
    ctx.keyId = result.keyId;
    return result;
  }
}

function checkContentType(value: string | undefined): void {
  const problem = contentTypeProblem(value, "application/x-www-form-urlencoded");
  if (problem === "type") {
    throw new OAuthError(415, "invalid_request", "content-type must be application/x-www-form-urlencoded");
  }
  if (problem === "charset") throw new OAuthError(415, "invalid_request", "charset must be utf-8");
}

/**
 * The form, strictly (RFC 6749 section 3.1: no parameter more than once; unknown ones ignored):
 * `token` required and not empty, `token_type_hint` optional. Percent-encoding must decode to
 * UTF-8. Messages name the parameter, never a value.
 */
export function parseForm(body: Buffer): { token: string; tokenTypeHint?: string | undefined } {
  const seen = new Map<string, string>();
  const text = body.toString("latin1"); // bytes as-is: a raw non-ASCII byte is refused below
  if (text === "") throw new OAuthError(400, "invalid_request", "the token parameter is required");
  for (const pair of text.split("&")) {
    if (pair === "") continue;
    if (!/^[\x21-\x7e]*$/.test(pair)) {
      throw new OAuthError(400, "invalid_request", "malformed form body: raw non-ASCII or control bytes");
    }
    const eq = pair.indexOf("=");
    const name = decode(eq < 0 ? pair : pair.slice(0, eq));
    if (name !== "token" && name !== "token_type_hint") continue;
    if (seen.has(name)) throw new OAuthError(400, "invalid_request", `the ${name} parameter is given more than once`);
    seen.set(name, decode(eq < 0 ? "" : pair.slice(eq + 1)));
  }
  const token = seen.get("token");
  if (!token) throw new OAuthError(400, "invalid_request", "the token parameter is required");
  return { token, tokenTypeHint: seen.get("token_type_hint") };
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s.replaceAll("+", " "));
  } catch {
    throw new OAuthError(400, "invalid_request", "malformed form body: bad percent-encoding");
  }
}

/** The body reader's refusals and the store's failures, as RFC 6749 errors. */
function fromOther(err: unknown): OAuthError {
  if (err instanceof HttpError) return new OAuthError(err.status, "invalid_request", err.message);
  const mapped = mapError(err);
  if (mapped.code === Code.Unavailable || mapped.code === Code.DeadlineExceeded) {
    return new OAuthError(503, "temporarily_unavailable", "the token store cannot answer; retry");
  }
  if (mapped.code === Code.InvalidArgument) return new OAuthError(400, "invalid_request", "invalid token parameter");
  return new OAuthError(500, "server_error", "internal error");
}

function codeOf(status: number): Code {
  if (status === 401) return Code.Unauthenticated;
  if (status === 413) return Code.ResourceExhausted;
  if (status === 503) return Code.Unavailable;
  if (status >= 500) return Code.Internal;
  return Code.InvalidArgument;
}
