// The methods served directly on their HTTP/2 stream (direct-call.ts), by `:path`. The stream
// dispatcher (socket/http2-streams.ts) looks a native gRPC stream's path up here first; every
// other path goes to @grpc/grpc-js, which keeps the sessions. Filled at start-up: unary methods by
// direct-unary.ts; a server-streaming method registers its own DirectMethod the same way.
import type * as http2 from "node:http2";
import { serveDirect, type DirectMethod } from "./direct-call.js";

export type DirectStreamHandler = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void;

export type DirectRoutes = Map<string, DirectStreamHandler>;

export const createDirectRoutes = (): DirectRoutes => new Map();

/** Serves `method` directly: its streams never reach grpc-js. */
export function addDirectMethod(routes: DirectRoutes, method: DirectMethod): void {
  if (routes.has(method.path)) throw new Error(`${method.path} is served directly twice`);
  routes.set(method.path, (stream, headers) => void serveDirect(stream, headers, method));
}
