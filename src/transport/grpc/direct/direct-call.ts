// One directly served gRPC call on its HTTP/2 stream: the request head (request-head.ts), exactly
// one request message (message-reader.ts), the deadline, the status (response-writer.ts), and
// the client's reset, in the order grpc-js 1.14 gives them (server.js handleUnary /
// handleServerStreaming, server-interceptors.js BaseServerInterceptingCall):
// - an invalid grpc-timeout: INTERNAL `Invalid grpc-timeout value "<value>"` (after the headers
//   are read, as grpc-js's nextTick); a valid one: DEADLINE_EXCEEDED "Deadline exceeded" when it
//   passes before the status went out;
// - a second message: UNIMPLEMENTED "Received a second request message for server streaming
//   method <path>"; the request's end with none: UNIMPLEMENTED "Received no request message for
//   server streaming method <path>" (grpc-js says "server streaming" for unary methods too);
// - the request's end with one message: the method's `onRequest`; from then on the method owns the
//   call (sendStatus, or for a server stream stream-writer.ts) and is told of a reset (`onCancel`).
// A stream closed by the client before the status (RST_STREAM, or its connection gone): the call
// is over, its deadline timer cleared, and nothing more is sent. No per-call closure: the
// stream's listeners are shared functions that find the call under a symbol.
import type * as http2 from "node:http2";
import { encodingOf, timeoutOf } from "./request-head.js";
import { MessageReader, UNIMPLEMENTED, type MessageSink } from "./message-reader.js";
import { gone, sendStatus } from "./response-writer.js";

export const DEADLINE_EXCEEDED = 4;

/** A directly served method: its path and what to do with the one request message. */
export interface DirectMethod {
  /** `/package.Service/Method`. */
  readonly path: string;
  /** grpc.max_receive_message_length (MAX_BODY_BYTES). */
  readonly maxReceiveBytes: number;
  /** The request's one message (decompressed), once the client has ended its request. */
  onRequest(call: DirectCall, message: Buffer): void;
  /**
   * The call ended without its status from the method: reset by the client (possibly before
   * onRequest ran), or its deadline passed (DEADLINE_EXCEEDED was sent).
   */
  onCancel?(call: DirectCall): void;
}

const CALL = Symbol("warpflow.directCall");
type Carrying = http2.ServerHttp2Stream & { [CALL]?: DirectCall };

function onData(this: Carrying, chunk: Buffer): void {
  const call = this[CALL]!;
  if (!call.done) call.reader?.write(chunk);
}
function onEnd(this: Carrying): void {
  this[CALL]!.halfClose();
}
function onClose(this: Carrying): void {
  this[CALL]!.closed();
}
function ignore(): void {}
function deadlinePassed(call: DirectCall): void {
  call.timer = undefined;
  if (call.done) return;
  call.sendStatus(DEADLINE_EXCEEDED, "Deadline exceeded");
  call.method.onCancel?.(call);
}
function sendLater(call: DirectCall, details: string): void {
  if (!call.done) call.sendStatus(13 /* INTERNAL */, details);
}

export class DirectCall implements MessageSink {
  /** The status went out, or the stream closed: nothing more is sent. */
  done = false;
  /** The response headers went out (a server stream's first message, or metadata). */
  headersSent = false;
  /** The stream closed before the call's status went out. */
  cancelled = false;
  timer: NodeJS.Timeout | undefined = undefined;
  /** Dropped once the request has ended and the method has its message (a long call holds less). */
  reader: MessageReader | undefined;
  private first: Buffer | undefined = undefined;
  private ended = false;
  private started = false;

  constructor(
    readonly stream: http2.ServerHttp2Stream,
    /** The request headers; a long-lived method may drop them (undefined) once it has read what it needs. */
    public headers: http2.IncomingHttpHeaders | undefined,
    readonly method: DirectMethod,
  ) {
    // Two messages at most are decoded: the second ends the call (message-reader.ts maxMessages).
    this.reader = new MessageReader(method.maxReceiveBytes, encodingOf(headers!), this, 2);
  }

  message(index: number, bytes: Buffer): void {
    if (index === 0) {
      this.first = bytes;
      // The request's end counts only once every message before it is in (a second one is refused).
      if (this.ended && !this.reader!.busy) this.start();
      return;
    }
    this.reader?.stop();
    this.sendStatus(UNIMPLEMENTED, `Received a second request message for server streaming method ${this.method.path}`);
  }

  refuse(code: number, details: string): void {
    if (!this.done) this.sendStatus(code, details);
  }

  halfClose(): void {
    this.ended = true;
    if (this.done || this.reader?.busy === true) return; // a message still inflating reports first
    if (this.first !== undefined) return this.start();
    this.reader?.stop();
    this.sendStatus(UNIMPLEMENTED, `Received no request message for server streaming method ${this.method.path}`);
  }

  private start(): void {
    if (this.started || this.done) return;
    this.started = true;
    this.reader!.stop();
    this.reader = undefined;
    const message = this.first!;
    this.first = undefined;
    this.method.onRequest(this, message);
  }

  /** Sends the call's status (once), with `extra` response metadata when no header went out yet. */
  sendStatus(code: number, details: string, extra?: http2.OutgoingHttpHeaders): void {
    if (this.done) return;
    this.finish();
    if (gone(this.stream)) return;
    sendStatus(this.stream, code, details, this.headersSent, extra);
    this.headersSent = true;
  }

  /** The call is over for the wire: no more input is read, the deadline is off. */
  finish(): void {
    this.done = true;
    this.reader?.stop();
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  closed(): void {
    if (this.done) return;
    this.cancelled = true;
    this.finish();
    this.method.onCancel?.(this);
  }
}

/** Serves one native gRPC stream whose `:path` is `method.path`. */
export function serveDirect(
  stream: http2.ServerHttp2Stream,
  headers: http2.IncomingHttpHeaders,
  method: DirectMethod,
): DirectCall {
  const call = new DirectCall(stream, headers, method);
  const s = stream as Carrying;
  s[CALL] = call;
  s.on("error", ignore); // a stream error is followed by 'close', which ends the call
  s.on("close", onClose);
  const timeout = timeoutOf(headers);
  if (timeout !== undefined) {
    if ("invalid" in timeout) process.nextTick(sendLater, call, timeout.invalid);
    else call.timer = setTimeout(deadlinePassed, timeout.ms, call);
  }
  // Always through 'end', also for END_STREAM on the headers: an invalid grpc-timeout answers
  // first, as in grpc-js (its status is a nextTick; 'end' comes after the stream starts flowing).
  s.on("data", onData);
  s.on("end", onEnd);
  return call;
}
