import { timestampDate } from "@bufbuild/protobuf/wkt";
import { create } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { bearerToken } from "../protocol/bearer.js";
import { peerOf } from "../protocol/peer.js";
import { CreateSessionRequestSchema, type TokenService } from "../../gen/warpflow/auth/v1/token_service_pb.js";
import type { CallObserver } from "../protocol/call-observer.js";
import type { NodeRequest, NodeResponse } from "../protocol/node-http.js";
import { codeName, httpStatusOf, mapError, OK } from "../protocol/error-mapping.js";
import { contentTypeProblem, headerReader, HttpError, readBody, rfc3339, sendError, sendJson } from "./json-http.js";
import type { CallContext, UnaryHandlers } from "../protocol/unary-handlers.js";
import { REQUEST_ID_HEADER, requestIdOf, nextCallSeq } from "../protocol/request-id.js";

/**
 * POST /api/v1/sessions, as in the public docs: {"tenant_id": "acme"} with an admin key answers
 * 200 {"token", "tenant_id", "expires_at"}. Errors answer a JSON body
 * {"error": {"code", "message"}} with the matching HTTP status. Served by the CreateSession handler.
 *
 * Order of checks, as on every protected REST route (/oauth2/introspect, the secret-scanning
 * alerts): the caller first (401, before the method, the content type or any body byte), then the
 * method (405), the content type (415), the body (413, 400), then the handler. A stranger learns
 * nothing but 401 and its refusal is logged at debug, not a 405/415 line at info per request.
 * `authenticate` resolves the bearer as the handler will (it throws the handler's refusal); a
 * refused caller is then handed to the handler itself, which refuses it again and audits it.
 */
export function createRestSessionsHandler(
  handlers: Pick<UnaryHandlers<typeof TokenService>, "createSession">,
  observer: CallObserver,
  maxBodyBytes: number,
  authenticate: (ctx: CallContext) => Promise<void>,
) {
  return async (req: NodeRequest, res: NodeResponse): Promise<void> => {
    const start = process.hrtime.bigint();
    // Every header read trimmed, as HTTP/1.1 gives it (HTTP/2 keeps a padded value as sent).
    const header = headerReader(req);
    const ctx: CallContext = {
      bearer: bearerToken(header("authorization")),
      header,
      peer: peerOf(req.socket),
      userAgent: header("user-agent"),
      protocol: "rest",
      seq: nextCallSeq(),
    };
    const idHeader = () => ({ [REQUEST_ID_HEADER]: requestIdOf(ctx) });
    try {
      await callerFirst(ctx);
      if (req.method !== "POST") throw new HttpError(405, "method_not_allowed", "use POST");
      // JSON is UTF-8 (RFC 8259): a body declared in another charset would be misread.
      const problem = contentTypeProblem(req.headers["content-type"], "application/json");
      if (problem === "type") {
        throw new HttpError(415, "unsupported_media_type", "content-type must be application/json");
      }
      if (problem === "charset") throw new HttpError(415, "unsupported_media_type", "charset must be utf-8");
      const body = await readBody(req, maxBodyBytes);
      let json: unknown;
      try {
        json = JSON.parse(body.toString("utf8"));
      } catch {
        throw new HttpError(400, "invalid_argument", "body: not valid JSON");
      }
      if (typeof json !== "object" || json === null || Array.isArray(json)) {
        throw new HttpError(400, "invalid_argument", 'body: must be a JSON object like {"tenant_id": "acme"}');
      }
      const extra = Object.keys(json).filter((k) => k !== "tenant_id" && k !== "scopes");
      // Never the field's name: a client that sends a token as a key would get it echoed and logged.
      if (extra.length > 0)
        throw new HttpError(400, "invalid_argument", 'body: unknown field (the fields are "tenant_id" and "scopes")');
      const tenantId = (json as { tenant_id?: unknown }).tenant_id;
      if (tenantId !== undefined && typeof tenantId !== "string") {
        throw new HttpError(400, "invalid_argument", "tenant_id: must be a string");
      }
      // Issue 22: optional scopes, a list of strings (the handler validates each one).
      const scopes = (json as { scopes?: unknown }).scopes;
      if (scopes !== undefined && (!Array.isArray(scopes) || !scopes.every((s) => typeof s === "string"))) {
        throw new HttpError(400, "invalid_argument", "scopes: must be a list of strings");
      }
      const out = await handlers.createSession(
        create(CreateSessionRequestSchema, {
          tenantId: tenantId ?? "",
          scopes: (scopes as string[] | undefined) ?? [],
        }),
        ctx,
      );
      observer.end("RestCreateSession", OK, start, ctx);
      sendJson(
        res,
        200,
        {
          token: out.token,
          tenant_id: out.tenantId,
          expires_at: rfc3339(timestampDate(out.expiresAt!)),
          // Only for a scoped session: an unscoped one answers exactly the documented three fields.
          ...(out.scopes.length > 0 && { scopes: out.scopes }),
        },
        idHeader(),
      );
    } catch (err) {
      if (err instanceof HttpError) {
        observer.end(
          "RestCreateSession",
          err.status === 413 ? Code.ResourceExhausted : Code.InvalidArgument,
          start,
          ctx,
          err.message,
        );
        sendError(res, err.status, err.code, err.message, {
          ...(err.status === 405 && { allow: "POST" }),
          ...idHeader(),
        });
        return;
      }
      const mapped = mapError(err);
      observer.end("RestCreateSession", mapped.code, start, ctx, mapped.unexpected ? err : mapped.message);
      sendError(res, httpStatusOf(mapped.code), codeName(mapped.code), mapped.message, idHeader());
    }
  };

  async function callerFirst(ctx: CallContext): Promise<void> {
    try {
      await authenticate(ctx);
    } catch (err) {
      if (mapError(err).code !== Code.Unauthenticated) throw err;
      // The handler authenticates before it reads a field: it refuses the same caller, audited.
      await handlers.createSession(create(CreateSessionRequestSchema), ctx);
      throw err;
    }
  }
}
