// connect-node's adapter, with one change: a binary request message that does not decode as the
// method's input message is INVALID_ARGUMENT (connect-es reports it as INTERNAL, and for a unary
// call before any handler runs, so the call would be missing from logs and metrics). The body is
// checked before connect-es parses it. Unary: a malformed one is replaced by an empty message and
// flagged, and the service implementation answers the flag with INVALID_ARGUMENT, so the error is
// written in the caller's protocol (Connect, gRPC-Web) and counted like any other call. Streaming
// (health Watch, reflection): each envelope is checked as it arrives and a malformed one ends the
// call with INVALID_ARGUMENT.
import { fromBinary, fromJsonString, type DescMessage } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createConnectRouter,
  createContextKey,
  type ConnectRouter,
  type ConnectRouterOptions,
  type ContextValues,
} from "@connectrpc/connect";
import type { UniversalHandler, UniversalServerRequest } from "@connectrpc/connect/protocol";
import { universalRequestFromNodeRequest, universalResponseToNodeResponse } from "@connectrpc/connect-node";
import { MALFORMED_JSON_MESSAGE, MALFORMED_MESSAGE, malformedRequest } from "../protocol/malformed-request.js";
import type { ClaimingHandler, NodeRequest } from "../protocol/node-http.js";

/** The call's Node response, so a streaming handler can hang up on a stalled reader (res.destroy()). */
export const nodeResponseKey = createContextKey<
  { destroy(): unknown; stream?: { destroyed: boolean; close(code: number): void } } | undefined
>(undefined, {
  description: "node response",
});

export const malformedBodyKey = createContextKey<string | undefined>(undefined, {
  description: "malformed request body",
});

/** Serves the request if its path is a registered method; returns false otherwise. */
export type ConnectAdapter = ClaimingHandler;

export interface ConnectAdapterOptions extends ConnectRouterOptions {
  routes(router: ConnectRouter): void;
  readMaxBytes: number;
  /** The largest request message of a streaming call (health Watch, reflection); default readMaxBytes. */
  streamingReadMaxBytes?: number;
  contextValues(req: NodeRequest): ContextValues;
  /** An adapter-level failure (writing the response); never includes request content. */
  onError(method: string, err: unknown): void;
}

/**
 * Bodies checked here: Connect unary (`application/proto` or `application/json`, the bare message)
 * and enveloped ones (gRPC-Web, Connect streaming, gRPC over HTTP/1.1: flags byte, 4-byte big-endian
 * length, message), binary or JSON. JSON is checked too because connect-es's own error for it quotes
 * the body (JSON.parse's excerpt, a rejected field value in full: a token pasted into the wrong field).
 */
interface BodyKind {
  framing: "bare" | "enveloped";
  json: boolean;
}

function bodyKind(contentType: string | null): BodyKind | undefined {
  const type = (contentType ?? "").split(";")[0]!.trim().toLowerCase();
  if (type === "application/proto") return { framing: "bare", json: false };
  if (type === "application/json") return { framing: "bare", json: true };
  if (ENVELOPED.has(type)) return { framing: "enveloped", json: false };
  if (ENVELOPED_JSON.has(type)) return { framing: "enveloped", json: true };
  return undefined;
}

const ENVELOPED_JSON = new Set(["application/grpc-web+json", "application/connect+json", "application/grpc+json"]);

const ENVELOPED = new Set([
  "application/grpc-web",
  "application/grpc-web+proto",
  "application/connect+proto",
  "application/grpc",
  "application/grpc+proto",
]);

async function* replay(first: Uint8Array[], rest: AsyncIterator<Uint8Array> | undefined): AsyncIterable<Uint8Array> {
  yield* first;
  if (!rest) return;
  for (let r = await rest.next(); !r.done; r = await rest.next()) yield r.value;
}

/** The body, read up to `max` bytes; `rest` is set when there was more (left for connect-es). */
async function readUpTo(body: AsyncIterable<Uint8Array>, max: number) {
  const it = body[Symbol.asyncIterator]();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (let r = await it.next(); !r.done; r = await it.next()) {
    chunks.push(r.value);
    size += r.value.byteLength;
    if (size > max) return { chunks, rest: it };
  }
  return { chunks, rest: undefined };
}

const EMPTY_ENVELOPE = new Uint8Array(5);
const EMPTY_JSON = new TextEncoder().encode("{}");
const EMPTY_JSON_ENVELOPE = new Uint8Array([0, 0, 0, 0, 2, ...EMPTY_JSON]);

function decodes(input: DescMessage, bytes: Uint8Array, json = false): string | undefined {
  try {
    if (json) fromJsonString(input, new TextDecoder().decode(bytes));
    else fromBinary(input, bytes);
    return undefined;
  } catch {
    return json ? MALFORMED_JSON_MESSAGE : MALFORMED_MESSAGE;
  }
}

/**
 * The problem with one envelope (flags, length, message), or undefined when it is a plain message
 * that decodes. A compressed flag on a body declared uncompressed is the client's mistake too.
 */
function envelopeProblem(input: DescMessage, envelope: Uint8Array, json = false): string | undefined {
  if (envelope[0] === 1) return "compressed flag set on an uncompressed body";
  if (envelope[0] !== 0) return undefined; // other flags: connect-es answers them
  return decodes(input, envelope.subarray(5), json);
}

/**
 * A streaming call's enveloped body, passed on envelope by envelope once each is whole and checked:
 * a message that does not decode ends the call with INVALID_ARGUMENT (connect-es would parse it and
 * answer INTERNAL). An envelope claiming more than `max` bytes, or an unfinished one at the end, is
 * passed on as is: connect-es refuses those itself.
 */
async function* checkedEnvelopes(
  body: AsyncIterable<Uint8Array>,
  input: DescMessage,
  max: number,
  json: boolean,
): AsyncIterable<Uint8Array> {
  const it = body[Symbol.asyncIterator]();
  let pending = Buffer.alloc(0);
  for (let r = await it.next(); !r.done; r = await it.next()) {
    pending = pending.length === 0 ? Buffer.from(r.value) : Buffer.concat([pending, r.value]);
    while (pending.length >= 5) {
      const length = pending.readUInt32BE(1);
      if (length > max) {
        yield pending;
        yield* replay([], it);
        return;
      }
      if (pending.length < 5 + length) break;
      const envelope = pending.subarray(0, 5 + length);
      const problem = envelopeProblem(input, envelope, json);
      if (problem !== undefined) throw malformedRequest(problem);
      yield envelope;
      pending = pending.subarray(5 + length);
    }
  }
  if (pending.length > 0) yield pending;
}

function withBodyCheck(handler: UniversalHandler, readMaxBytes: number): UniversalHandler {
  const input = handler.method.input;
  const checked = async (req: UniversalServerRequest) => {
    const kind = bodyKind(req.header.get("content-type"));
    const compressed =
      (req.header.get("content-encoding") ?? req.header.get("grpc-encoding") ?? "identity") !== "identity";
    const body = req.body;
    if (kind === undefined || compressed || !isAsyncIterable(body)) return handler(req);
    if (handler.method.methodKind !== "unary") {
      return kind.framing === "enveloped"
        ? handler({ ...req, body: checkedEnvelopes(body, input, readMaxBytes, kind.json) })
        : handler(req);
    }
    const { chunks, rest } = await readUpTo(body, readMaxBytes + 5);
    if (rest) return handler({ ...req, body: replay(chunks, rest) }); // too large: connect-es refuses it
    const all = Buffer.concat(chunks);
    // One whole envelope is checked; anything else (none, two, cut short): connect-es answers it.
    const oneEnvelope = all.length >= 5 && all.readUInt32BE(1) === all.length - 5;
    const problem =
      kind.framing === "bare"
        ? decodes(input, all, kind.json)
        : oneEnvelope
          ? envelopeProblem(input, all, kind.json)
          : undefined;
    if (problem === undefined) return handler({ ...req, body: replay([all], undefined) });
    req.contextValues?.set(malformedBodyKey, problem);
    const header = new Headers(req.header);
    header.delete("content-length");
    return handler({
      ...req,
      header,
      body: replay(
        [
          kind.framing === "enveloped"
            ? kind.json
              ? EMPTY_JSON_ENVELOPE
              : EMPTY_ENVELOPE
            : kind.json
              ? EMPTY_JSON
              : new Uint8Array(0),
        ],
        undefined,
      ),
    });
  };
  return Object.assign(checked, handler) as UniversalHandler;
}

function isAsyncIterable(v: unknown): v is AsyncIterable<Uint8Array> {
  return typeof v === "object" && v !== null && Symbol.asyncIterator in v;
}

export function createConnectAdapter(opts: ConnectAdapterOptions): ConnectAdapter {
  const router = createConnectRouter(opts);
  opts.routes(router);
  const paths = new Map<string, UniversalHandler>();
  const streamingMax = Math.min(opts.readMaxBytes, opts.streamingReadMaxBytes ?? opts.readMaxBytes);
  for (const h of router.handlers)
    paths.set(h.requestPath, withBodyCheck(h, h.method.methodKind === "unary" ? opts.readMaxBytes : streamingMax));
  return {
    handle(req, res) {
      const handler = paths.get((req.url ?? "").split("?", 1)[0]!);
      if (!handler) return false;
      const values = opts.contextValues(req);
      if (handler.method.methodKind === "server_streaming") values.set(nodeResponseKey, res);
      const uReq = universalRequestFromNodeRequest(req, res, undefined, values);
      handler(uReq)
        .then((uRes) => universalResponseToNodeResponse(uRes, res))
        .catch((err: unknown) => {
          if (ConnectError.from(err).code !== Code.Aborted) opts.onError(handler.method.name, err);
          if (!res.headersSent) {
            res.statusCode = 500;
            res.end();
          }
        });
      return true;
    },
  };
}
