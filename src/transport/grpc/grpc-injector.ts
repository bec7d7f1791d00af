// The grpc-js server that owns every HTTP/2 session of the one port, and the connection injector
// the listener feeds it through. The injector's http2 server is handed to socket/http2-streams.ts,
// which splits its streams between grpc-js and the HTTP router.
//
// grpc-js keeps its http2 servers in a private map (`http2Servers`), and the options it creates
// them with in another (`commonServerOptions`): the two private fields of @grpc/grpc-js this
// service touches. @grpc/grpc-js is pinned; if either moves, the server refuses to start with a
// message naming this file, and the client-matrix tests fail.
import type * as http2 from "node:http2";
import * as grpc from "@grpc/grpc-js";
import { FIXED_LIMITS } from "../../config/limits.js";

export interface GrpcServerLimits {
  /** The largest request message (MAX_BODY_BYTES). */
  maxReceiveBytes: number;
  maxConcurrentStreams: number;
  /**
   * gRPC's max_connection_age (0 = off) and its grace, on every HTTP/2 session of the port (grpc-js
   * owns them all, Connect and gRPC-Web streams included): ±10% jitter, GOAWAY, open calls finish,
   * and whatever is still open after the grace is closed.
   */
  maxConnectionAgeMs: number;
  maxConnectionAgeGraceMs: number;
}

export function createGrpcServer(limits: GrpcServerLimits): grpc.Server {
  return new grpc.Server({
    "grpc.max_receive_message_length": limits.maxReceiveBytes,
    "grpc.max_send_message_length": FIXED_LIMITS.grpcMaxSendBytes,
    "grpc.max_concurrent_streams": limits.maxConcurrentStreams,
    "grpc-node.max_session_memory": FIXED_LIMITS.http2SessionMemoryMb,
    // No grpc.max_connection_idle_ms: socket/http2-streams.ts closes idle sessions (without
    // grpc-js's per-call timer refresh and trace strings).
    // No channelz: nothing here serves grpc.channelz.v1, and with it on grpc-js tracks every call
    // (two Dates, a session lookup, an object with four closures per call, kept as long as the
    // call: ~0.5 KB per open watcher) and registers every connection in a global tree.
    "grpc.enable_channelz": 0,
    ...(limits.maxConnectionAgeMs > 0
      ? {
          "grpc.max_connection_age_ms": limits.maxConnectionAgeMs,
          "grpc.max_connection_age_grace_ms": limits.maxConnectionAgeGraceMs,
        }
      : {}),
  });
}

/**
 * Node's HTTP/2 options added to grpc-js's own. `strictFieldWhitespaceValidation: false` (Node
 * 22.17 / 24.2 and later; an unknown option before, ignored): with RFC 9113's strict rule nghttp2
 * silently drops a header whose value starts or ends with whitespace, so a gateway's padded
 * `x-warpflow-required-scopes` reached /authz as no requirement at all (a key lacking the scope
 * was allowed where HTTP/1.1, which strips the whitespace, refused it). Now the value arrives and
 * is read as HTTP/1.1 reads it (json-http.ts headerReader trims it). docs/edge-auth.md.
 */
export const HTTP2_SERVER_OPTIONS = { strictFieldWhitespaceValidation: false } as const;

/** Creates grpc-js's connection injector and returns it with the http2 server it feeds. */
export function createGrpcInjector(server: grpc.Server, credentials = grpc.ServerCredentials.createInsecure()) {
  const servers = (server as unknown as { http2Servers?: Map<http2.Http2Server, unknown> }).http2Servers;
  if (!(servers instanceof Map))
    throw new Error("@grpc/grpc-js internals changed: no http2Servers map (see grpc-injector.ts)");
  const common = (server as unknown as { commonServerOptions?: http2.ServerOptions }).commonServerOptions;
  if (typeof common !== "object" || common === null)
    throw new Error("@grpc/grpc-js internals changed: no commonServerOptions (see grpc-injector.ts)");
  Object.assign(common, HTTP2_SERVER_OPTIONS);
  const before = new Set(servers.keys());
  const injector = server.createConnectionInjector(credentials);
  const h2 = [...servers.keys()].find((s) => !before.has(s));
  if (!h2)
    throw new Error(
      "@grpc/grpc-js internals changed: the injector's http2 server was not found (see grpc-injector.ts)",
    );
  return { injector, h2 };
}
