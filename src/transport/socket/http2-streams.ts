// Every HTTP/2 stream, split by what it speaks. The HTTP/2 sessions belong to @grpc/grpc-js (it is
// ~8x cheaper per call than connect-node, and Introspect is the hot path), but grpc-js serves only
// native gRPC: a Connect or gRPC-Web request on HTTP/2 (browsers, connect-go, connect-es
// `httpVersion: "2"`, any TLS client that negotiates h2) would get 415. So the one stream listener
// grpc-js installs on its http2 server is replaced by a dispatcher: `application/grpc` and
// `application/grpc+<codec>` streams go to grpc-js (or, for the few methods served directly on the
// stream, to grpc/direct/), everything else to Node's compatibility layer
// (Http2ServerRequest/Response) and from there to the same HTTP router as HTTP/1.1.
//
// The dispatcher also enforces a deadline by which a stream must have sent its whole request (a
// half-sent request is reset), a deadline by which a new connection must have opened its first
// stream (like HTTP/1.1's headers timeout: a client that sends the preface, or its SETTINGS, and
// then nothing is closed, instead of holding the connection for grpc-js's 5-minute idle limit),
// and the HTTP/2 limits: concurrent streams per connection and the
// decoded header-list size (Node resets a stream over it with ENHANCE_YOUR_CALM, which bounds the
// HPACK amplification). Session memory is bounded by grpc-js's `grpc-node.max_session_memory`.
//
// The http2 server comes from grpc-js's connection injector (grpc/grpc-injector.ts, which reads
// grpc-js's one private field); this file only needs Node's http2 types.
import * as http2 from "node:http2";
import { FIXED_LIMITS, sweepCadenceMs } from "../../config/limits.js";
import { dropRepeatedAuthorization } from "../protocol/bearer.js";
import { addressGroupOf } from "../protocol/address-group.js";
import { createAddressCounts } from "../protocol/address-counts.js";

export interface Http2Limits {
  /** A connection must open its first stream within this (HTTP/1.1: its first request's headers). */
  headersTimeoutMs: number;
  maxConcurrentStreams: number;
  maxHeaderBytes: number;
  requestTimeoutMs: number;
  /** A connection with no open stream this long is closed (default FIXED_LIMITS.http2IdleTimeoutMs). */
  idleTimeoutMs?: number | undefined;
  /**
   * Streams still sending their request that one client address (IPv6: its /64) may hold, over all
   * its connections: as many half-sent requests as HTTP/1.1 allows it (one per connection). More
   * are refused (REFUSED_STREAM, safe to retry). 0 or unset: no bound.
   */
  maxConnectionsPerAddress?: number | undefined;
}

/**
 * Native gRPC methods served on the stream itself (grpc/direct/), by `:path`: looked up before
 * grpc-js. Such a stream keeps every rule below (header-list size, half-sent bound and deadline,
 * session counts); the direct code sends its own status and stops the input after it.
 */
export type DirectStreams = ReadonlyMap<
  string,
  (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void
>;

type StreamListener = (
  stream: http2.ServerHttp2Stream,
  headers: http2.IncomingHttpHeaders,
  flags: number,
  rawHeaders: string[],
) => void;

export function isNativeGrpc(contentType: string | undefined): boolean {
  if (contentType === undefined || !contentType.startsWith("application/grpc")) return false;
  const next = contentType.charCodeAt(16); // after "application/grpc"
  return Number.isNaN(next) || next === 43 /* + */ || next === 59 /* ; */;
}

const endInput = (stream: http2.ServerHttp2Stream) => {
  if (!stream.readableEnded && !stream.closed && !stream.destroyed) stream.close(http2.constants.NGHTTP2_NO_ERROR);
};

/**
 * Once grpc-js has sent a call's status (trailers, or a trailers-only response) while the client
 * is still sending, the stream is reset with NO_ERROR (RFC 9113 section 8.1: the server asks the
 * client to stop sending a request whose response is complete). grpc-js instead reads and drops
 * whatever comes after the status: a call refused for a too-large message or a full stream bound
 * still took 1.5 GB of input in 6 s from 200 streams. The reset is queued behind the trailers.
 */
// Node's own methods, taken from the first stream (ServerHttp2Stream is not exported): the
// replacements below are shared by every stream, so a call allocates no closure for this.
let nodeSendTrailers: http2.ServerHttp2Stream["sendTrailers"] | undefined;
let nodeRespond: http2.ServerHttp2Stream["respond"] | undefined;

function sendTrailersThenStop(this: http2.ServerHttp2Stream, headers: http2.OutgoingHttpHeaders): void {
  nodeSendTrailers!.call(this, headers);
  if (!this.readableEnded) setImmediate(endInput, this);
}

function respondThenStop(
  this: http2.ServerHttp2Stream,
  headers?: http2.OutgoingHttpHeaders,
  options?: http2.ServerStreamResponseOptions,
): void {
  nodeRespond!.call(this, headers, options);
  if (options?.endStream && !this.readableEnded) setImmediate(endInput, this);
}

function stopInputAfterStatus(stream: http2.ServerHttp2Stream): void {
  // A unary call has read its whole request before it answers: the check above costs nothing more.
  nodeSendTrailers ??= stream.sendTrailers;
  nodeRespond ??= stream.respond;
  stream.sendTrailers = sendTrailersThenStop;
  stream.respond = respondThenStop;
}

/** A session's open streams and when it last had none (the idle timeout, see below). */
interface SessionUse {
  open: number;
  idleSince: number;
}
const USE = Symbol("warpflow.sessionUse");
type Counted = { [USE]?: SessionUse };

/** Every stream's one 'close' listener (shared, no closure per stream): see splitHttp2Streams. */
function streamClosed(this: http2.ServerHttp2Stream & Counted): void {
  const use = this[USE];
  if (use !== undefined && --use.open === 0) use.idleSince = Date.now();
}

export function splitHttp2Streams(
  h2: http2.Http2Server,
  limits: Http2Limits,
  onHttpRequest: (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void,
  onRequestTimeout: () => void,
  direct?: DirectStreams,
): { close(): void } {
  h2.updateSettings({ maxConcurrentStreams: limits.maxConcurrentStreams, maxHeaderListSize: limits.maxHeaderBytes });
  const grpcListeners = h2.listeners("stream") as StreamListener[];
  if (grpcListeners.length !== 1)
    throw new Error(`expected grpc-js's one stream listener, found ${grpcListeners.length}`);
  const grpcStream = grpcListeners[0]!;
  h2.removeAllListeners("stream");
  // Adding a 'request' listener makes Node install its compatibility stream listener; take it too.
  h2.on("request", onHttpRequest);
  const compat = h2.listeners("stream") as StreamListener[];
  if (compat.length !== 1) throw new Error("Node's http2 compatibility listener was not installed");
  const compatStream = compat[0]!;
  h2.removeAllListeners("stream");

  // Streams still sending their request, with the time by which they must have finished. One
  // shared 'close' listener per stream forgets it; a stream that has sent its whole request
  // (readableEnded) but is not closed yet is forgotten by the sweep, never reset.
  const pending = new Map<http2.ServerHttp2Stream, number>();
  function forget(this: Sending) {
    pending.delete(this);
    sent.call(this);
  }
  // The same streams counted per client address (attack finding: 250 connections x 100 streams
  // each holding a half-sent 60 KB Connect body, no credential needed, took RSS 92 -> 981 MiB).
  const sendingPerAddress = limits.maxConnectionsPerAddress ?? 0;
  const sendingBy = createAddressCounts();
  const SENDING = Symbol("warpflow.sendingGroup");
  type Sending = http2.ServerHttp2Stream & { [SENDING]?: string };
  // A connection's client group, worked out once per connection, not per stream.
  const GROUP = Symbol("warpflow.addressGroup");
  type Grouped = http2.ServerHttp2Session & { [GROUP]?: string };
  const groupOf = (session: Grouped | undefined) =>
    session === undefined ? "unknown" : (session[GROUP] ??= addressGroupOf(session.socket?.remoteAddress) ?? "unknown");
  function sent(this: Sending) {
    const group = this[SENDING];
    if (group === undefined) return;
    this[SENDING] = undefined;
    sendingBy.release(group);
  }
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [stream, deadline] of pending) {
      if (stream.readableEnded) {
        pending.delete(stream);
        continue;
      }
      if (deadline > now) continue;
      pending.delete(stream);
      onRequestTimeout();
      stream.close(http2.constants.NGHTTP2_CANCEL);
    }
  }, sweepCadenceMs(limits.requestTimeoutMs));
  sweep.unref();

  // Idle connections: a session with no open stream for FIXED_LIMITS.http2IdleTimeoutMs is closed
  // (GOAWAY, as grpc-js's grpc.max_connection_idle_ms did). grpc-js kept that per call: a timer
  // refresh and two trace strings (through the session's socket proxy) each time a session's
  // last stream closed, which with many connections (few calls each) is nearly every call. Here
  // a stream costs a counter; the sweep below looks at the sessions now and then.
  const sessions = new Set<http2.ServerHttp2Session & Counted>();
  const idleMs = limits.idleTimeoutMs ?? FIXED_LIMITS.http2IdleTimeoutMs;
  const idleSweep = setInterval(
    () => {
      const now = Date.now();
      for (const session of sessions) {
        const use = session[USE]!;
        if (use.open === 0 && now - use.idleSince >= idleMs && !session.closed) session.close();
      }
    },
    Math.min(Math.max(100, Math.floor(idleMs / 20)), 15_000),
  );
  idleSweep.unref();

  h2.on("session", (session: http2.ServerHttp2Session & Counted) => {
    session[USE] = { open: 0, idleSince: Date.now() };
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
    const silent = setTimeout(() => {
      onRequestTimeout();
      session.destroy(); // nothing is in flight on it
    }, limits.headersTimeoutMs);
    silent.unref();
    const clear = () => clearTimeout(silent);
    session.once("stream", clear);
    session.once("close", clear);
  });

  h2.on(
    "stream",
    (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number, rawHeaders: string[]) => {
      // The decoded header list (RFC 9113 section 6.5.2: name + value + 32 per field). Node advertises
      // maxHeaderListSize but does not hold a peer to it (a client that ignores it sent 40 KB).
      let size = 0;
      for (let i = 0; i < rawHeaders.length; i += 2) size += rawHeaders[i]!.length + rawHeaders[i + 1]!.length + 32;
      if (size > limits.maxHeaderBytes) {
        stream.on("error", () => {}); // the reset is the answer; nobody else listens on this stream
        return stream.close(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
      }
      const sending = !stream.readableEnded && !(flags & http2.constants.NGHTTP2_FLAG_END_STREAM);
      if (sending && sendingPerAddress > 0) {
        const group = groupOf(stream.session as Grouped | undefined);
        if (sendingBy.of(group) >= sendingPerAddress) {
          stream.on("error", () => {});
          return stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
        }
        sendingBy.add(group);
        (stream as Sending)[SENDING] = group;
        stream.once("end", sent); // its 'close' is `forget`'s, below
      }
      dropRepeatedAuthorization(headers, rawHeaders);
      const use = (stream.session as (http2.ServerHttp2Session & Counted) | undefined)?.[USE];
      if (use !== undefined) {
        use.open++;
        (stream as http2.ServerHttp2Stream & Counted)[USE] = use;
        stream.on("close", streamClosed);
      }
      if (sending) {
        pending.set(stream, Date.now() + limits.requestTimeoutMs);
        stream.on("close", forget);
      }
      if (!isNativeGrpc(headers["content-type"])) return compatStream.call(h2, stream, headers, flags, rawHeaders);
      const served = direct?.get(headers[":path"] as string);
      if (served !== undefined) return served(stream, headers);
      if (sending) stopInputAfterStatus(stream);
      grpcStream.call(h2, stream, headers, flags, rawHeaders);
    },
  );
  return {
    close() {
      clearInterval(sweep);
      clearInterval(idleSweep);
    },
  };
}
