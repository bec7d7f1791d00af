import type { AddressInfo } from "node:net";
import type * as net from "node:net";
import type { TLSSocket } from "node:tls";
import { createContextValues } from "@connectrpc/connect";
import type { Logger } from "pino";
import type { ConnectionLimits } from "../config.js";
import { FIXED_LIMITS } from "../config/limits.js";
import { file_warpflow_auth_v1_token_service, TokenService } from "../gen/warpflow/auth/v1/token_service_pb.js";
import {
  Authorization,
  file_envoy_service_auth_v3_external_auth,
} from "../gen/envoy/service/auth/v3/external_auth_pb.js";
import { createBuiltinServices } from "./builtin/builtin-services.js";
import type { CallObserver } from "./protocol/call-observer.js";
import { createConnectAdapter } from "./connect/connect-adapter.js";
import { createConnectionGuard } from "./socket/connection-guard.js";
import { createForwardAuthHandler, type ForwardAuthOptions } from "./http/forward-auth.js";
import { clientCertVerifiedKey, peerAddressKey, registerConnectService } from "./connect/connect-routes.js";
import { peerOf } from "./protocol/peer.js";
import { routeGrpcLogs } from "./grpc/grpc-logging.js";
import { addProtobufService } from "./grpc/grpc-server.js";
import { createDirectRoutes } from "./grpc/direct/direct-routes.js";
import { addDirectUnaryMethods, directCodecOf } from "./grpc/direct/direct-unary.js";
import { createHttp1Server } from "./socket/http1-server.js";
import { splitHttp2Streams } from "./socket/http2-streams.js";
import { trackHttp2Sessions } from "./socket/http2-sessions.js";
import { createGrpcInjector, createGrpcServer } from "./grpc/grpc-injector.js";
import { createHttpRouter } from "./http/http-router.js";
import { createPlainListener, createTlsListener, type TlsFiles } from "./socket/listener.js";
import type { Metrics } from "../observability/metrics.js";
import { createRestSessionsHandler } from "./http/rest-sessions.js";
import { createOAuth2IntrospectHandler } from "./http/oauth2-introspect.js";
import type { OAuth2Introspection } from "./protocol/oauth2-introspection.js";
import { createSecretScanningHandler, type AlertReceiver } from "./http/secret-scanning-alerts.js";
import type { CallContext, UnaryHandlers } from "./protocol/unary-handlers.js";
import type { StreamHandlers } from "./protocol/stream-handlers.js";
import { addProtobufStreams } from "./grpc/grpc-token-streams.js";
import { limitStreamHandlers } from "./builtin/stream-limit.js";
import { addDirectStreams } from "./grpc/direct/watch-route.js";

export interface ServerOptions {
  host: string;
  port: number;
  handlers: UnaryHandlers<typeof TokenService>;
  /** Envoy ext_authz (envoy.service.auth.v3.Authorization/Check), served beside TokenService when given. */
  authorization?: UnaryHandlers<typeof Authorization> | undefined;
  /** WatchInvalidations, at most `maxWatchers` open (and MAX_OPEN_STREAMS_PER_ADDRESS per address). */
  streams?: { handlers: StreamHandlers<typeof TokenService>; maxWatchers: number } | undefined;
  observer: CallObserver;
  metrics: Metrics;
  logger: Logger;
  maxBodyBytes: number;
  limits: ConnectionLimits;
  tls?: TlsFiles | undefined;
  /** Extra fields of the /readyz body (e.g. the change feed's state); they do not change the status. */
  readinessDetail?: (() => Record<string, unknown>) | undefined;
  /** /authz settings (AUTHZ_REQUIRE_TENANT_BINDING). */
  authz?: ForwardAuthOptions | undefined;
  /** POST /oauth2/introspect (RFC 7662). */
  oauth2: OAuth2Introspection;
  /** POST /api/v1/sessions: the caller's bearer resolved before the method or the body (throws the refusal). */
  restCaller: (ctx: CallContext) => Promise<void>;
  /** The secret-scanning alert endpoint, when enabled (SECRET_SCANNING_ENABLED). */
  secretScanning?: { receiver: AlertReceiver; maxBodyBytes: number } | undefined;
  /**
   * Tests only (never from the environment): false serves Introspect and Check on grpc-js like every
   * other method, the reference the direct path is compared with (test/e2e/grpc-direct-diff).
   */
  grpcDirect?: boolean | undefined;
}

/** The method label of Check (Envoy ext_authz) in metrics and logs: the RPC's own name. */
export const CHECK = "Check";

export interface RunningServer {
  port: number;
  /** grpc.health.v1 and /readyz: SERVING only when the service can answer. */
  setServing(serving: boolean): void;
  /** Stop accepting, let in-flight calls finish (up to timeoutMs), then close every connection. */
  close(timeoutMs: number): Promise<void>;
}

/**
 * The one port. Connections: admitted by the connection guard, then split by the listener
 * (HTTP/2 preface or ALPN h2 -> the HTTP/2 server, else HTTP/1.1). Requests: native gRPC streams
 * -> @grpc/grpc-js (Introspect, Check and WatchInvalidations: served on the stream itself, grpc/direct/); every other request on either HTTP version -> one HTTP router (Connect and
 * gRPC-Web via connect-es, REST, health, metrics). See docs/clients.md and docs/security.md.
 */
export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const { limits, logger } = opts;
  let serving = false;
  routeGrpcLogs(logger);

  const grpcServer = createGrpcServer({
    maxReceiveBytes: opts.maxBodyBytes,
    maxConcurrentStreams: limits.maxConcurrentStreams,
    maxConnectionAgeMs: limits.maxConnectionAgeMs,
    maxConnectionAgeGraceMs: limits.maxConnectionAgeGraceMs,
  });
  addProtobufService(grpcServer, TokenService, opts.handlers, opts.observer);
  if (opts.authorization) addProtobufService(grpcServer, Authorization, opts.authorization, opts.observer);
  // The hot methods, served on the HTTP/2 stream itself (grpc/direct/): grpc-js keeps the
  // sessions and every other method (it still has them registered: nothing routes there).
  const directRoutes = createDirectRoutes();
  if (opts.grpcDirect !== false) {
    const direct = {
      maxReceiveBytes: opts.maxBodyBytes,
      maxSendBytes: FIXED_LIMITS.grpcMaxSendBytes,
      observer: opts.observer,
      codecOf: directCodecOf,
    };
    addDirectUnaryMethods(directRoutes, TokenService, opts.handlers, direct, ["introspect"]);
    if (opts.authorization) addDirectUnaryMethods(directRoutes, Authorization, opts.authorization, direct, ["check"]);
  }
  const streams =
    opts.streams &&
    limitStreamHandlers(
      opts.streams.handlers,
      { max: opts.streams.maxWatchers, maxPerAddress: limits.maxOpenStreamsPerAddress },
      "open watchers",
    );
  if (streams) addProtobufStreams(grpcServer, TokenService, streams, opts.observer);
  // WatchInvalidations on the HTTP/2 stream itself (grpc/direct/watch-call.ts); grpc-js keeps it registered.
  if (streams && opts.grpcDirect !== false) {
    addDirectStreams(directRoutes, TokenService, streams, {
      observer: opts.observer,
      maxReceiveBytes: opts.maxBodyBytes,
      maxSendBytes: FIXED_LIMITS.grpcMaxSendBytes,
    });
  }
  const builtins = createBuiltinServices(
    opts.authorization
      ? [file_warpflow_auth_v1_token_service, file_envoy_service_auth_v3_external_auth]
      : [file_warpflow_auth_v1_token_service],
    opts.authorization ? [TokenService.typeName, Authorization.typeName] : [TokenService.typeName],
    {
      max: limits.maxOpenStreams,
      maxPerAddress: limits.maxOpenStreamsPerAddress,
    },
  );
  builtins.addToGrpc(grpcServer);
  const { injector, h2 } = createGrpcInjector(grpcServer);
  const h2Sessions = trackHttp2Sessions(h2);

  const connect = createConnectAdapter({
    routes: (router) => {
      registerConnectService(router, TokenService, opts.handlers, opts.observer, streams);
      if (opts.authorization) registerConnectService(router, Authorization, opts.authorization, opts.observer);
      builtins.registerOn(router);
    },
    readMaxBytes: opts.maxBodyBytes,
    streamingReadMaxBytes: FIXED_LIMITS.builtinMessageMaxBytes,
    contextValues: (req) =>
      createContextValues()
        .set(clientCertVerifiedKey, (req.socket as Partial<TLSSocket>).authorized === true)
        .set(peerAddressKey, peerOf(req.socket)),
    onError: (method, err) =>
      logger.warn({ rpc: method, err: err instanceof Error ? err.name : "error" }, "connect: response not written"),
  });
  const router = createHttpRouter({
    connect,
    rest: createRestSessionsHandler(opts.handlers, opts.observer, opts.maxBodyBytes, opts.restCaller),
    authz: createForwardAuthHandler(opts.handlers.introspect, opts.observer, opts.authz),
    oauth2Introspect: createOAuth2IntrospectHandler(opts.oauth2, opts.observer, opts.maxBodyBytes),
    secretScanning:
      opts.secretScanning &&
      createSecretScanningHandler(opts.secretScanning.receiver, opts.observer, opts.secretScanning.maxBodyBytes),
    metrics: opts.metrics,
    serving: () => serving,
    readinessDetail: opts.readinessDetail,
  });
  const h2Streams = splitHttp2Streams(
    h2,
    limits,
    router,
    () => opts.metrics.requestsTimedOut.labels("http2").inc(),
    directRoutes,
  );
  const http1 = createHttp1Server(limits, router);

  // In-flight HTTP/1.1 requests, so shutdown can drain them; while draining every response
  // closes its connection. (HTTP/2 sessions drain through socket/http2-sessions.ts: GOAWAY, then
  // the session closes when its last stream, gRPC or not, ends.)
  let http1InFlight = 0;
  let draining = false;
  let http1Drained: (() => void) | undefined;
  http1.prependListener("request", (_req, res) => {
    http1InFlight++;
    if (draining) res.shouldKeepAlive = false;
    res.once("close", () => {
      if (--http1InFlight === 0) http1Drained?.();
    });
  });

  const guard = createConnectionGuard({
    maxPerAddress: limits.maxConnectionsPerAddress,
    maxTotal: limits.maxConnections,
    onRefused: (reason) => opts.metrics.connectionsRefused.labels(reason).inc(),
  });
  const demux = { h2: (s: import("node:stream").Duplex) => injector.injectConnection(s), http1 };
  const listener: net.Server = opts.tls
    ? createTlsListener(demux, opts.tls, guard, limits.headersTimeoutMs)
    : createPlainListener(demux, guard, limits.headersTimeoutMs);
  await new Promise<void>((resolve, reject) => {
    listener.once("error", reject);
    listener.listen(opts.port, opts.host, () => {
      listener.off("error", reject);
      resolve();
    });
  });

  const setServing = (value: boolean) => {
    serving = value;
    builtins.health.setServing(value);
  };

  return {
    port: (listener.address() as AddressInfo).port,
    setServing,
    async close(timeoutMs) {
      setServing(false);
      builtins.health.close();
      listener.close();
      draining = true;
      let forced: () => void = () => {};
      const forcedDone = new Promise<void>((resolve) => (forced = resolve));
      const force = setTimeout(() => {
        // Whatever clients still hold open, on either protocol, is closed now.
        grpcServer.forceShutdown();
        http1.closeAllConnections();
        guard.destroyAll();
        // Sockets close asynchronously; give their close events a moment, then stop waiting.
        setTimeout(forced, FIXED_LIMITS.forcedCloseGraceMs).unref();
      }, timeoutMs);
      force.unref();
      const drained = Promise.all([
        new Promise<void>((resolve) => grpcServer.tryShutdown(() => resolve())),
        h2Sessions.drain(), // tryShutdown alone no longer waits for them on Node 24+ (see that file)
        new Promise<void>((resolve) => {
          http1Drained = resolve;
          http1.closeIdleConnections();
          if (http1InFlight === 0) resolve();
        }),
      ]);
      await Promise.race([drained, forcedDone]);
      clearTimeout(force);
      h2Streams.close();
      http1.closeAllConnections();
      guard.destroyAll();
    },
  };
}
