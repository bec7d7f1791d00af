// What a directly served call sends, header for header as grpc-js 1.14 sends it
// (server-interceptors.js sendMetadata, sendMessage, sendStatus):
// - response headers `:status` 200, `content-type: application/grpc+proto`,
//   `grpc-accept-encoding: identity,deflate,gzip`, `grpc-encoding: identity` (then any custom
//   metadata, e.g. x-request-id); messages are never compressed;
// - each message framed as flag 0 + 4-byte big-endian length + bytes;
// - the status as trailers `grpc-status`, `grpc-message` after the headers, or, when no header was
//   sent yet, a trailers-only response (`grpc-status`, `grpc-message`, `:status` 200,
//   `content-type`, END_STREAM). `grpc-message` is `encodeURI(details)` as grpc-js does (not the
//   gRPC spec's percent-encoding: grpc-js clients and grpcio decode both the same for our texts).
// Once the status is out and the client is still sending, the stream's input is closed with
// NO_ERROR (RFC 9113 section 8.1), as socket/http2-streams.ts does for grpc-js's streams.
import * as http2 from "node:http2";

export const CONTENT_TYPE = "application/grpc+proto";

/** The response headers of every call that sends a message (or headers before its status). */
export const RESPONSE_HEADERS: Readonly<http2.OutgoingHttpHeaders> = Object.freeze({
  ":status": 200,
  "content-type": CONTENT_TYPE,
  "grpc-accept-encoding": "identity,deflate,gzip",
  "grpc-encoding": "identity",
});

const WAIT_FOR_TRAILERS: http2.ServerStreamResponseOptions = Object.freeze({ waitForTrailers: true });
const END_STREAM: http2.ServerStreamResponseOptions = Object.freeze({ endStream: true });
const OK_TRAILERS: Readonly<http2.OutgoingHttpHeaders> = Object.freeze({ "grpc-status": 0, "grpc-message": "OK" });

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** grpc-js's grpc-message: encodeURI of the details (a lone surrogate, which encodeURI refuses, becomes U+FFFD). */
export function grpcMessageOf(details: string): string {
  try {
    return encodeURI(details);
  } catch {
    return encodeURI(details.replace(LONE_SURROGATE, "\uFFFD"));
  }
}

/** A message framed for the wire (kept and reused when the same answer serves many calls). */
export function framed(bytes: Uint8Array): Buffer {
  const out = Buffer.allocUnsafeSlow(bytes.byteLength + 5);
  out[0] = 0;
  out.writeUInt32BE(bytes.byteLength, 1);
  out.set(bytes, 5);
  return out;
}

/** The stream is gone (the client reset it, or it closed): nothing more can be sent. */
export const gone = (stream: http2.ServerHttp2Stream): boolean => stream.destroyed || stream.closed;

const endInput = (stream: http2.ServerHttp2Stream) => {
  if (!stream.readableEnded && !stream.closed && !stream.destroyed) stream.close(http2.constants.NGHTTP2_NO_ERROR);
};

/** After the status: a client still sending is asked to stop (queued behind the status). */
export function stopInput(stream: http2.ServerHttp2Stream): void {
  if (!stream.readableEnded) setImmediate(endInput, stream);
}

function sendOkTrailers(this: http2.ServerHttp2Stream): void {
  this.sendTrailers(OK_TRAILERS);
}

/** Headers (with `extra` metadata, if any), one framed message, then status OK. */
export function sendUnaryOk(stream: http2.ServerHttp2Stream, frame: Buffer, extra?: http2.OutgoingHttpHeaders): void {
  stream.respond(extra === undefined ? RESPONSE_HEADERS : { ...RESPONSE_HEADERS, ...extra }, WAIT_FOR_TRAILERS);
  stream.on("wantTrailers", sendOkTrailers); // emitted once per stream
  stream.end(frame);
  stopInput(stream);
}

/** The headers of a call that will send messages or a status later (once per call). */
export function sendHeaders(stream: http2.ServerHttp2Stream, extra?: http2.OutgoingHttpHeaders): void {
  stream.respond(extra === undefined ? RESPONSE_HEADERS : { ...RESPONSE_HEADERS, ...extra }, WAIT_FOR_TRAILERS);
}

/**
 * The status. `headersSent`: the response headers went out already (trailers follow the data);
 * else a trailers-only response, or, with `extra` metadata, headers then trailers as grpc-js
 * sends a status after sendMetadata.
 */
export function sendStatus(
  stream: http2.ServerHttp2Stream,
  code: number,
  details: string,
  headersSent: boolean,
  extra?: http2.OutgoingHttpHeaders,
): void {
  const message = grpcMessageOf(details);
  if (!headersSent && extra === undefined) {
    stream.respond(
      { "grpc-status": code, "grpc-message": message, ":status": 200, "content-type": CONTENT_TYPE },
      END_STREAM,
    );
  } else {
    if (!headersSent) sendHeaders(stream, extra);
    stream.once("wantTrailers", () => stream.sendTrailers({ "grpc-status": code, "grpc-message": message }));
    stream.end();
  }
  stopInput(stream);
}
