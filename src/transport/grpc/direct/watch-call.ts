// A server-streaming method with a pushed form (PUSH_STREAMS: WatchInvalidations) served directly on
// its HTTP/2 stream, on the direct wire module (direct-call.ts reads the request head and the one
// message, keeps the deadline, sends the status as grpc-js does): no grpc-js call objects (its
// call, writable, decoder and metadata were ~3 KB of a watcher's ~9.5 KB), and no generator,
// promise or AbortSignal of ours. Per watch: the DirectCall, one DirectWatch (the call context and
// the sink the handler pushes into) and the hub's cursor; every stream listener is shared. The
// call ends in the shared observer and error mapping with one log line, as on grpc-js: OK (the
// server ended it), CANCELLED (the client did, or the deadline passed), RESOURCE_EXHAUSTED (a
// reader too slow, hung up on), or the handler's error.
import { type DescMessage, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { constants as h2, type ServerHttp2Stream } from "node:http2";
import type { CallObserver } from "../../protocol/call-observer.js";
import { mapError, OK } from "../../protocol/error-mapping.js";
import { malformedRequest } from "../../protocol/malformed-request.js";
import type { PushCallContext, StreamHandle, StreamSink } from "../../protocol/push-streams.js";
import type { DirectCall, DirectMethod } from "./direct-call.js";
import { RESOURCE_EXHAUSTED } from "./message-reader.js";
import { DirectCallContext } from "./direct-context.js";
import { framed, gone, sendHeaders } from "./response-writer.js";

export type PushHandler = (req: unknown, ctx: PushCallContext, sink: StreamSink<unknown>) => StreamHandle;

export interface DirectStreamOptions {
  /** The method's name in logs and metrics ("WatchInvalidations"). */
  name: string;
  input: DescMessage;
  output: DescMessage;
  handler: PushHandler;
  observer: CallObserver;
  /** grpc.max_send_message_length. */
  maxSendBytes: number;
}

const WATCH = Symbol("warpflow.directWatch");
type Carrying = ServerHttp2Stream & { [WATCH]?: DirectWatch };

/** A message object sent to many calls (a heartbeat, an invalidation) is encoded and framed once. */
const frames = new WeakMap<object, Buffer>();

/** One open call: its context (DirectCallContext, as a unary call's) and the sink its handler pushes into. */
class DirectWatch extends DirectCallContext implements PushCallContext, StreamSink<unknown> {
  onClose: ((ctx: PushCallContext) => void) | undefined = undefined;
  place: string | null | undefined = undefined;
  open = true;
  handle: StreamHandle | undefined = undefined;
  readonly start = process.hrtime.bigint();

  constructor(
    readonly call: DirectCall,
    readonly opts: DirectStreamOptions,
  ) {
    super(call.stream, call.headers);
  }

  // --- the sink ---

  send(msg: unknown): boolean {
    const { call } = this;
    if (!this.open || call.done || gone(call.stream)) return false;
    let frame = frames.get(msg as object);
    if (frame === undefined) {
      frame = framed(toBinary(this.opts.output, msg as never));
      frames.set(msg as object, frame);
    }
    if (frame.length - 5 > this.opts.maxSendBytes) {
      const details = `Sent message larger than max (${frame.length} vs. ${this.opts.maxSendBytes})`;
      this.over(Code.ResourceExhausted, details);
      call.sendStatus(RESOURCE_EXHAUSTED, details);
      return false;
    }
    const stream = call.stream;
    if (!call.headersSent) {
      call.headersSent = true;
      sendHeaders(stream);
      forgetSentHeaders(stream);
      stream.on("drain", drained);
    }
    return stream.write(frame);
  }

  evicted(): void {
    if (!this.open) return;
    this.over(Code.ResourceExhausted, "watcher too slow");
    this.call.finish();
    // A stream stuck behind a full flow-control window cannot take a status: reset it (CANCEL).
    if (!gone(this.call.stream)) this.call.stream.close(h2.NGHTTP2_CANCEL);
  }

  end(err?: unknown): void {
    if (!this.open) return;
    if (err === undefined) {
      this.over(OK);
      return this.call.sendStatus(OK, "OK");
    }
    const mapped = mapError(err);
    this.over(mapped.code, mapped.unexpected ? err : mapped.message);
    this.call.sendStatus(mapped.code, mapped.message);
  }

  /** The call is over (once): its log line, and its place in the stream bound given back. */
  over(code: Code, error?: unknown): void {
    this.open = false;
    this.handle?.close();
    this.handle = undefined;
    // A watch that ends while it starts (refused, malformed) still logs the caller's x-request-id.
    this.releaseHeaders();
    this.opts.observer.end(this.opts.name, code, this.start, this, error);
    const release = this.onClose;
    this.onClose = undefined;
    release?.(this);
  }
}

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

/** 'drain', shared by every stream (no closure per call): the handler may push again. */
function drained(this: Carrying): void {
  const watch = this[WATCH];
  if (watch?.open) watch.handle?.resume();
}

/** The one method the direct wire serves for a pushed stream (added to the routes by watch-route.ts). */
export function directStreamMethod(path: string, maxReceiveBytes: number, opts: DirectStreamOptions): DirectMethod {
  return {
    path,
    maxReceiveBytes,
    onRequest(call, bytes) {
      const watch = new DirectWatch(call, opts);
      (call.stream as Carrying)[WATCH] = watch;
      let req: unknown;
      try {
        req = fromBinary(opts.input, bytes);
      } catch {
        return watch.end(malformedRequest());
      }
      try {
        const handle = opts.handler(req, watch, watch);
        if (watch.open) watch.handle = handle;
        else handle.close();
      } catch (err) {
        return watch.end(err);
      }
      // Only x-request-id is read after the start (the log line): the other headers are let go.
      watch.releaseHeaders();
      // DirectCall reads its headers only in its constructor: a watch lets them go (~600 bytes per open watch).
      call.headers = undefined;
    },
    // The client reset the stream (or went away), or the deadline passed (its status is out).
    onCancel(call) {
      const watch = (call.stream as Carrying)[WATCH];
      if (watch?.open) watch.over(Code.Canceled);
    },
  };
}
