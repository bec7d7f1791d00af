// The request and response objects every plain-HTTP path handles: Node's HTTP/1.1 ones and its
// HTTP/2 compatibility ones (socket/http2-streams.ts hands every non-gRPC stream to that layer).
// Here, not in connect/, so the HTTP endpoints and the Connect adapter share them without
// importing each other.
import type * as http from "node:http";
import type * as http2 from "node:http2";

export type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest;
export type NodeResponse = http.ServerResponse | http2.Http2ServerResponse;

/** A handler that serves a request if it is its own (e.g. a registered RPC path); false otherwise. */
export interface ClaimingHandler {
  handle(req: NodeRequest, res: NodeResponse): boolean;
}
