import type * as http from "node:http";
import type * as http2 from "node:http2";
import { fromBinary, type DescMessage } from "@bufbuild/protobuf";
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

/**
 * connect-node's adapter, with one change: a binary request body that does not decode as the
 * method's input message is INVALID_ARGUMENT (connect-es reports it as INTERNAL, and before any
 * handler runs, so the call would be missing from logs and metrics). The body is checked before
 * connect-es parses it; a malformed one is replaced by an empty message and flagged, and the
 * service implementation answers the flag with INVALID_ARGUMENT, so the error is written in the
 * caller's protocol (Connect, gRPC-Web) and counted like any other call.
 */
export const malformedBodyKey = createContextKey<string | undefined>(undefined, { description: "malformed request body" });

export type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest;
export type NodeResponse = http.ServerResponse | http2.Http2ServerResponse;

export interface ConnectAdapter {
  /** Serves the request if its path is a registered method; returns false otherwise. */
  handle(req: NodeRequest, res: NodeResponse): boolean;
}

export interface ConnectAdapterOptions extends ConnectRouterOptions {
  routes(router: ConnectRouter): void;
  readMaxBytes: number;
  contextValues(req: NodeRequest): ContextValues;
  /** An adapter-level failure (writing the response); never includes request content. */
  onError(method: string, err: unknown): void;
}

/** Unary binary bodies: Connect (`application/proto`) and gRPC-Web (one enveloped message). */
function binaryKind(contentType: string | null): "connect" | "grpc-web" | undefined {
  const type = (contentType ?? "").split(";")[0]!.trim().toLowerCase();
  if (type === "application/proto") return "connect";
  if (type === "application/grpc-web" || type === "application/grpc-web+proto") return "grpc-web";
  return undefined;
}

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

function decodes(input: DescMessage, bytes: Uint8Array): string | undefined {
  try {
    fromBinary(input, bytes);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

function withBodyCheck(handler: UniversalHandler, readMaxBytes: number): UniversalHandler {
  const input = handler.method.input;
  const checked = async (req: UniversalServerRequest) => {
    const kind = binaryKind(req.header.get("content-type"));
    const compressed = (req.header.get("content-encoding") ?? req.header.get("grpc-encoding") ?? "identity") !== "identity";
    const body = req.body;
    if (kind === undefined || compressed || handler.method.methodKind !== "unary" || !isAsyncIterable(body)) return handler(req);
    const { chunks, rest } = await readUpTo(body, readMaxBytes + 5);
    if (rest) return handler({ ...req, body: replay(chunks, rest) }); // too large: connect-es refuses it
    const all = Buffer.concat(chunks);
    let message: Uint8Array | undefined = all;
    if (kind === "grpc-web") {
      // flags (1 byte), length (4 bytes big-endian), message; compressed or odd frames: connect-es decides.
      const length = all.length >= 5 ? all.readUInt32BE(1) : -1;
      message = all.length >= 5 && all[0] === 0 && length === all.length - 5 ? all.subarray(5) : undefined;
    }
    const problem = message === undefined ? undefined : decodes(input, message);
    if (problem === undefined) return handler({ ...req, body: replay([all], undefined) });
    req.contextValues?.set(malformedBodyKey, problem);
    const header = new Headers(req.header);
    header.delete("content-length");
    return handler({ ...req, header, body: replay([kind === "grpc-web" ? EMPTY_ENVELOPE : new Uint8Array(0)], undefined) });
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
  for (const h of router.handlers) paths.set(h.requestPath, withBodyCheck(h, opts.readMaxBytes));
  return {
    handle(req, res) {
      const handler = paths.get((req.url ?? "").split("?", 1)[0]!);
      if (!handler) return false;
      const uReq = universalRequestFromNodeRequest(req, res, undefined, opts.contextValues(req));
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
