// The gRPC wire of a server-streaming call served on the HTTP/2 stream itself (watch-call.ts), as
// @grpc/grpc-js 1.14 writes it (server-interceptors.js BaseServerInterceptingCall, stream-decoder.js):
// the same response headers, trailers, trailers-only answers, grpc-timeout rule and request
// framing, so a client cannot tell the two apart (test/e2e/watch-direct-wire.e2e.test.ts compares them).
import { constants as h2, type OutgoingHttpHeaders, type ServerHttp2Stream } from "node:http2";
import { gunzip, inflate } from "node:zlib";

/** grpc-js's response headers (defaultResponseHeaders + defaultCompressionHeaders). Node copies them on respond. */
export const RESPONSE_HEADERS: OutgoingHttpHeaders = Object.freeze({
  [h2.HTTP2_HEADER_STATUS]: h2.HTTP_STATUS_OK,
  [h2.HTTP2_HEADER_CONTENT_TYPE]: "application/grpc+proto",
  "grpc-accept-encoding": "identity,deflate,gzip",
  "grpc-encoding": "identity",
});

/** A status with no message before it: one HEADERS frame that ends the stream (grpc-js's trailers-only). */
export function respondTrailersOnly(stream: ServerHttp2Stream, code: number, details: string): void {
  if (stream.destroyed || stream.closed || stream.headersSent) return;
  stream.respond(
    {
      "grpc-status": code,
      "grpc-message": encodeURI(details),
      [h2.HTTP2_HEADER_STATUS]: h2.HTTP_STATUS_OK,
      [h2.HTTP2_HEADER_CONTENT_TYPE]: "application/grpc+proto",
    },
    { endStream: true },
  );
}

/** The trailers after the messages (sent on the stream's 'wantTrailers'). */
export const trailersOf = (code: number, details: string): OutgoingHttpHeaders => ({
  "grpc-status": code,
  "grpc-message": encodeURI(details),
});

/** grpc-js's grpc-timeout rule (not anchored: it finds the first digits-and-unit anywhere in the value). */
const DEADLINE = /(\d{1,8})\s*([HMSmun])/;
const UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

/** The timeout in ms as grpc-js computes it (its `| 0` included), or undefined when the value does not parse. */
export function timeoutMsOf(value: string): number | undefined {
  const m = DEADLINE.exec(value);
  return m === null ? undefined : (Number(m[1]) * UNIT_MS[m[2]!]!) | 0;
}

/** The 5-byte gRPC message prefix and the bytes, in one buffer with its own memory (kept per message). */
export function frame(bytes: Uint8Array): Buffer {
  const out = Buffer.allocUnsafeSlow(bytes.byteLength + 5);
  out[0] = 0;
  out.writeUInt32BE(bytes.byteLength, 1);
  out.set(bytes, 5);
  return out;
}

/**
 * The request of a server-streaming call: exactly one length-prefixed message, read as grpc-js's
 * StreamDecoder reads it (a declared length over `max` fails at once with its words). Returns what
 * was wrong, grpc-js's code and text, or undefined while all is well.
 */
export class RequestReader {
  private chunks: Buffer[] = [];
  private length = 0;
  /** Complete messages seen (a second one is refused). */
  messages = 0;
  /** The first message's flag byte and bytes once complete. */
  compressed = false;
  body: Buffer | undefined;

  constructor(private readonly max: number) {}

  /** Feeds bytes; returns a failure (code, details) or undefined. */
  write(data: Buffer, secondMessage: () => { code: number; details: string }) {
    this.chunks.push(data);
    this.length += data.length;
    for (;;) {
      if (this.length < 5) return undefined;
      const head = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.length);
      this.chunks = [head];
      const size = head.readUInt32BE(1);
      if (this.max !== -1 && size > this.max)
        return { code: RESOURCE_EXHAUSTED, details: `Received message larger than max (${size} vs ${this.max})` };
      if (this.length < 5 + size) return undefined;
      if (++this.messages > 1) return secondMessage();
      this.compressed = head[0] === 1;
      this.body = head.subarray(5, 5 + size);
      const rest = head.subarray(5 + size);
      this.chunks = rest.length > 0 ? [rest] : [];
      this.length = rest.length;
    }
  }

  /** Whatever is left of a message cut off at the end of the input is dropped, as grpc-js does. */
  release(): void {
    this.chunks = [];
    this.body = undefined;
  }
}

export const INTERNAL = 13;
export const RESOURCE_EXHAUSTED = 8;
export const UNIMPLEMENTED = 12;
export const DEADLINE_EXCEEDED = 4;

/**
 * The request message's bytes, decompressed as grpc-js does: the flag set with grpc-encoding
 * identity (or none) is read as is; gzip and deflate are inflated up to `max` bytes; any other
 * encoding is UNIMPLEMENTED.
 */
export function decompress(
  bytes: Buffer,
  compressed: boolean,
  encoding: string,
  max: number,
  done: (err: { code: number; details: string } | undefined, out: Buffer | undefined) => void,
): void {
  if (!compressed || encoding === "identity") return done(undefined, bytes);
  if (encoding !== "gzip" && encoding !== "deflate") {
    // grpc-js quotes the client's own header back (as direct/message-reader.ts does).
    return done(
      { code: UNIMPLEMENTED, details: `Received message compressed with unsupported encoding "${encoding}"` },
      undefined,
    );
  }
  const options = max === -1 ? {} : { maxOutputLength: Math.max(1, max) };
  (encoding === "gzip" ? gunzip : inflate)(bytes, options, (err, out) => {
    if (!err) return done(undefined, out);
    if ((err as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE")
      return done(
        { code: RESOURCE_EXHAUSTED, details: `Received message that decompresses to a size larger than ${max}` },
        undefined,
      );
    done({ code: INTERNAL, details: "Failed to decompress message" }, undefined);
  });
}
