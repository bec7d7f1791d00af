// WatchInvalidations over native gRPC, served on the HTTP/2 stream itself: no grpc-js call objects
// (its call, writable, decoder and metadata were ~3 KB of a watcher's ~9.5 KB), no generator,
// promise or AbortSignal of ours. One object per watch (DirectWatchCall: the call context, the sink
// the hub pushes into, and the wire state) and the hub's cursor; every stream listener is shared.
// The answers are grpc-js's, byte for byte where a client can see them (watch-wire.ts), and the
// call ends in the shared observer and error mapping as the grpc-js path did (one log line: OK,
// CANCELLED, RESOURCE_EXHAUSTED for a reader hung up on, or the error).
import { type DescMessage, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { constants as h2, type IncomingHttpHeaders, type ServerHttp2Stream } from "node:http2";
import { TLSSocket } from "node:tls";
import { bearerToken } from "../../protocol/bearer.js";
import type { CallObserver } from "../../protocol/call-observer.js";
import { mapError, OK } from "../../protocol/error-mapping.js";
import { malformedRequest } from "../../protocol/malformed-request.js";
import { peerOf } from "../../protocol/peer.js";
import type { PushCallContext, StreamHandle, StreamSink } from "../../protocol/push-streams.js";
import { nextCallSeq, REQUEST_ID_HEADER } from "../../protocol/request-id.js";
import {
  DEADLINE_EXCEEDED,
  decompress,
  frame,
  INTERNAL,
  RequestReader,
  RESOURCE_EXHAUSTED,
  RESPONSE_HEADERS,
  respondTrailersOnly,
  timeoutMsOf,
  trailersOf,
  UNIMPLEMENTED,
} from "./watch-wire.js";

export type PushHandler = (req: unknown, ctx: PushCallContext, sink: StreamSink<unknown>) => StreamHandle;

export interface DirectStreamRoute {
  /** The method's name in logs and metrics ("WatchInvalidations"). */
  name: string;
  /** `/package.Service/Method`. */
  path: string;
  input: DescMessage;
  output: DescMessage;
  handler: PushHandler;
  observer: CallObserver;
  /** grpc.max_receive_message_length of the grpc-js server (-1: none). */
  maxReceiveBytes: number;
  /** grpc.max_send_message_length. */
  maxSendBytes: number;
}

const CALL = Symbol("warpflow.directStreamCall");
type WithCall = ServerHttp2Stream & { [CALL]?: DirectStreamCall };

/**
 * A streamed message object sent to many calls (a heartbeat, an invalidation) is encoded and framed
 * once: every watcher writes the same bytes.
 */
const framed = new WeakMap<object, Buffer>();

const enum State {
  Reading,
  Open,
  Ended,
}

/** One call: its context (PushCallContext), the hub's sink (StreamSink) and its wire state. */
class DirectStreamCall implements PushCallContext, StreamSink<unknown> {
  actor: string | undefined = undefined;
  tenantId: string | undefined = undefined;
  keyId: string | undefined = undefined;
  requestId: string | undefined = undefined;
  readonly seq = nextCallSeq();
  onClose: ((ctx: PushCallContext) => void) | undefined = undefined;
  place: string | null | undefined = undefined;
  state = State.Reading;
  handle: StreamHandle | undefined = undefined;
  start = 0n;
  /** The request headers while the call starts; afterwards only x-request-id is kept (the log line reads it). */
  headers: IncomingHttpHeaders | undefined;
  requestIdHeader: string | undefined;
  reader: RequestReader | undefined;
  deadline: NodeJS.Timeout | undefined = undefined;
  trailers: { code: number; details: string } | undefined = undefined;

  constructor(
    readonly stream: ServerHttp2Stream,
    headers: IncomingHttpHeaders,
    readonly route: DirectStreamRoute,
  ) {
    this.headers = headers;
    this.reader = new RequestReader(route.maxReceiveBytes);
  }

  get bearer(): string | undefined {
    const auth = this.headers?.authorization;
    return typeof auth === "string" ? bearerToken(auth) : undefined;
  }

  /** grpc-js's metadata: the first value; a value with characters outside printable ASCII is dropped. */
  header(name: string): string | undefined {
    if (this.headers === undefined) return name === REQUEST_ID_HEADER ? this.requestIdHeader : undefined;
    if (name.startsWith(":") || name.endsWith("-bin")) return undefined;
    const raw = this.headers[name];
    const v = Array.isArray(raw) ? raw[0] : raw;
    return typeof v === "string" && PRINTABLE.test(v) ? v : undefined;
  }

  get peer(): string | undefined {
    return peerOf(this.stream.session?.socket);
  }

  get userAgent(): string | undefined {
    return this.header("user-agent");
  }

  get protocol(): string {
    return "grpc";
  }

  /** As grpc-js's getAuthContext: a TLS socket that verified its peer's certificate against the CA. */
  clientCertVerified(): boolean {
    const socket = this.stream.session?.socket;
    return socket instanceof TLSSocket && socket.authorized && socket.getPeerCertificate().raw !== undefined;
  }

  // --- the sink the hub pushes into ---

  send(msg: unknown): boolean {
    if (this.state !== State.Open) return false;
    let bytes = framed.get(msg as object);
    if (bytes === undefined) {
      bytes = frame(toBinary(this.route.output, msg as never));
      framed.set(msg as object, bytes);
    }
    if (bytes.length - 5 > this.route.maxSendBytes) {
      this.finish(RESOURCE_EXHAUSTED, `Sent message larger than max (${bytes.length} vs. ${this.route.maxSendBytes})`);
      this.log(Code.ResourceExhausted, "response message too large");
      return false;
    }
    const stream = this.stream;
    if (!stream.headersSent) {
      stream.respond(RESPONSE_HEADERS, WAIT_FOR_TRAILERS);
      forgetSentHeaders(stream);
      stream.on("wantTrailers", wantTrailers);
      stream.on("drain", drained);
    }
    return stream.write(bytes);
  }

  evicted(): void {
    if (this.state !== State.Open) return;
    this.state = State.Ended;
    this.handle = undefined;
    // A stream stuck behind a full flow-control window cannot take a status: reset it (CANCEL).
    if (!this.stream.destroyed) this.stream.close(h2.NGHTTP2_CANCEL);
    this.log(Code.ResourceExhausted, "watcher too slow");
  }

  end(err?: unknown): void {
    if (this.state !== State.Open) return;
    this.handle = undefined;
    if (err === undefined) {
      this.finish(OK, "OK");
      return this.log(OK);
    }
    const mapped = mapError(err);
    this.finish(mapped.code, mapped.message);
    this.log(mapped.code, mapped.unexpected ? err : mapped.message);
  }

  // --- the wire ---

  log(code: Code, error?: unknown): void {
    this.route.observer.end(this.route.name, code, this.start, this, error);
  }

  /** Sends the status (trailers after the messages, or trailers-only) and ends the call. */
  finish(code: number, details: string): void {
    this.state = State.Ended;
    if (this.deadline !== undefined) clearTimeout(this.deadline);
    const stream = this.stream;
    if (stream.destroyed || stream.closed) return;
    if (stream.headersSent) {
      this.trailers = { code, details };
      stream.end(); // 'wantTrailers' once every message is out
    } else respondTrailersOnly(stream, code, details);
    // A client still sending is asked to stop once the status is out (RFC 9113 section 8.1), as
    // socket/http2-streams.ts does for grpc-js's streams; until then its input is read and dropped.
    if (!stream.readableEnded) setImmediate(stopInput, stream);
  }

  /** The whole request is in: decode it and start the handler. */
  requested(): void {
    const reader = this.reader!;
    this.reader = undefined;
    if (reader.messages === 0) {
      return this.finish(UNIMPLEMENTED, `Received no request message for server streaming method ${this.route.path}`);
    }
    const encoding = this.headers?.["grpc-encoding"];
    decompress(
      reader.body!,
      reader.compressed,
      typeof encoding === "string" ? encoding : "identity",
      this.route.maxReceiveBytes,
      (err, bytes) => {
        if (this.state !== State.Reading) return;
        if (err) return this.finish(err.code, err.details);
        this.run(bytes!);
      },
    );
  }

  run(bytes: Buffer): void {
    this.start = process.hrtime.bigint();
    this.state = State.Open;
    let req: unknown;
    try {
      req = fromBinary(this.route.input, bytes);
    } catch {
      return this.end(malformedRequest());
    }
    try {
      const handle = this.route.handler(req, this, this);
      if (this.state === State.Open) this.handle = handle;
      else handle.close();
    } catch (err) {
      this.end(err);
    }
    // Only x-request-id is read after the start (the observer's log line): the rest is let go.
    const id = this.headers?.[REQUEST_ID_HEADER];
    this.requestIdHeader = typeof id === "string" ? id : undefined;
    this.headers = undefined;
  }
}

const PRINTABLE = /^[ -~]*$/;
const WAIT_FOR_TRAILERS = Object.freeze({ waitForTrailers: true });

/**
 * Node keeps a copy of the response headers on the stream for its whole life (`sentHeaders`, a
 * dictionary-mode object: ~450 bytes per open watch, bench/tools/watcher-heap.ts). Nothing here
 * reads it, so a long-lived stream lets it go. Found by its symbol's description on the first
 * stream; if Node renames it, nothing is dropped (and nothing breaks).
 */
let sentHeadersKey: symbol | null | undefined;
function forgetSentHeaders(stream: ServerHttp2Stream): void {
  if (sentHeadersKey === undefined)
    sentHeadersKey = Object.getOwnPropertySymbols(stream).find((k) => k.description === "sent-headers") ?? null;
  if (sentHeadersKey !== null) (stream as unknown as Record<symbol, unknown>)[sentHeadersKey] = undefined;
}

// Shared listeners (this = the stream): no closure per call.
function noop(): void {}
function stopInput(stream: ServerHttp2Stream): void {
  if (!stream.readableEnded && !stream.closed && !stream.destroyed) stream.close(h2.NGHTTP2_NO_ERROR);
}
function onData(this: WithCall, data: Buffer): void {
  const call = this[CALL];
  if (call === undefined || call.state !== State.Reading || call.reader === undefined) return;
  const failed = call.reader.write(data, () => ({
    code: UNIMPLEMENTED,
    details: `Received a second request message for server streaming method ${call.route.path}`,
  }));
  if (failed) {
    call.reader.release();
    call.reader = undefined;
    call.finish(failed.code, failed.details);
  }
}
function onEnd(this: WithCall): void {
  const call = this[CALL];
  if (call !== undefined && call.state === State.Reading && call.reader !== undefined) call.requested();
}
function wantTrailers(this: WithCall): void {
  const t = this[CALL]?.trailers;
  if (t !== undefined && !this.destroyed && !this.closed) this.sendTrailers(trailersOf(t.code, t.details));
}
function drained(this: WithCall): void {
  this[CALL]?.handle?.resume();
}
function onClose(this: WithCall): void {
  const call = this[CALL];
  if (call === undefined) return;
  this[CALL] = undefined;
  if (call.deadline !== undefined) clearTimeout(call.deadline);
  const was = call.state;
  call.state = State.Ended;
  // The client cancelled, reset the stream or went away: the usual end of a watch.
  if (was === State.Open) {
    call.handle?.close();
    call.handle = undefined;
    call.log(Code.Canceled);
  }
  call.reader = undefined;
  const release = call.onClose;
  call.onClose = undefined;
  release?.(call);
}
function deadlineExceeded(call: DirectStreamCall): void {
  call.deadline = undefined;
  if (call.state === State.Ended) return;
  const was = call.state;
  call.handle?.close();
  call.handle = undefined;
  call.finish(DEADLINE_EXCEEDED, "Deadline exceeded");
  // The handler learns of it as a cancel (grpc-js: the call is cancelled once its status is out).
  if (was === State.Open) call.log(Code.Canceled);
}

/**
 * Serves one server-streaming method on HTTP/2 streams the dispatcher hands over (native gRPC,
 * `:path` = route.path). The content type was checked by the dispatcher.
 */
export function createDirectStream(route: DirectStreamRoute) {
  return function serve(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    stream.on("error", noop); // as grpc-js: every error is followed by 'close', which ends the call
    const call = new DirectStreamCall(stream, headers, route);
    (stream as WithCall)[CALL] = call;
    stream.on("close", onClose);
    const timeout = headers["grpc-timeout"];
    const timeoutValue = Array.isArray(timeout) ? timeout[0] : timeout;
    if (timeoutValue !== undefined) {
      const ms = timeoutMsOf(timeoutValue);
      if (ms === undefined) {
        // grpc-js answers on the next tick, after its constructor, and reads nothing more.
        // Its text quotes the client's own header back, as grpc-js's does (direct/request-head.ts too).
        const details = `Invalid grpc-timeout value "${timeoutValue}"`;
        process.nextTick(() => call.state === State.Reading && call.finish(INTERNAL, details));
      } else call.deadline = setTimeout(deadlineExceeded, ms, call);
    }
    stream.on("data", onData);
    stream.on("end", onEnd);
  };
}
