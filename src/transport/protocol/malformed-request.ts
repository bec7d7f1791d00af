// A request message that does not decode is the caller's mistake: INVALID_ARGUMENT with this fixed
// text on every protocol (connect-adapter.ts for Connect and gRPC-Web, the rest of this file for
// grpc-js), never INTERNAL, and never the decoder's own words. (An envelope with the compressed flag
// on a body declared uncompressed answers its own fixed text, unary and streaming alike.)
//
// grpc-js answers a request its deserializer throws on with INTERNAL ("Error deserializing
// request"): a client's mistake reported as the server's. Every grpc-js method here decodes
// through `tolerant`, which returns MALFORMED instead of throwing, and the method answers
// INVALID_ARGUMENT (grpc-server.ts for TokenService, grpc-streams.ts for health and reflection).
import { Code, ConnectError } from "@connectrpc/connect";

export const MALFORMED = Symbol("malformed request");

export const MALFORMED_MESSAGE = "not a valid protobuf message";

/** A JSON body (Connect, gRPC-Web JSON) that is not this method's message: never the parser's words (they quote the body). */
export const MALFORMED_JSON_MESSAGE = "not a valid JSON message for this method";

/** The error every path answers such a request with (`problem`: a finer fixed text, e.g. a bad flag). */
export const malformedRequest = (problem: string = MALFORMED_MESSAGE) =>
  new ConnectError(`request: ${problem}`, Code.InvalidArgument);

export function tolerant(decode: (b: Buffer) => unknown): (b: Buffer) => unknown {
  return (b) => {
    try {
      return decode(b);
    } catch {
      return MALFORMED;
    }
  };
}
