import * as http from "node:http";
import type { AddressInfo } from "node:net";
import type * as net from "node:net";
import type { TLSSocket } from "node:tls";
import { createContextValues } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { file_warpflow_auth_v1_token_service, TokenService } from "../gen/warpflow/auth/v1/token_service_pb.js";
import { createBuiltinServices } from "./builtin-services.js";
import type { CallObserver } from "./call-observer.js";
import { clientCertVerifiedKey, registerConnectService } from "./connect-routes.js";
import { addProtobufService } from "./grpc-server.js";
import { sendError, sendJson } from "./json-http.js";
import { createPlainListener, createTlsListener, type TlsFiles } from "./listener.js";
import type { Metrics } from "./metrics.js";
import { createRestSessionsHandler } from "./rest-sessions.js";
import type { UnaryHandlers } from "./unary-handlers.js";

export interface ServerOptions {
  host: string;
  port: number;
  handlers: UnaryHandlers<typeof TokenService>;
  observer: CallObserver;
  metrics: Metrics;
  maxBodyBytes: number;
  tls?: TlsFiles | undefined;
}

export interface RunningServer {
  port: number;
  /** grpc.health.v1 and /readyz: SERVING only when the service can answer. */
  setServing(serving: boolean): void;
  /** Stop accepting, let in-flight calls finish (up to timeoutMs), then close everything. */
  close(timeoutMs: number): Promise<void>;
}

const SERVICE_PATH = `/${TokenService.typeName}/`;

export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  let serving = false;

  // gRPC (h2): @grpc/grpc-js, fed connections by the listener.
  const grpcServer = new grpc.Server({
    "grpc.max_receive_message_length": opts.maxBodyBytes,
    "grpc.max_send_message_length": 4 * 1024 * 1024,
    // Close HTTP/2 connections idle for 5 minutes (no calls), including ones left open after a
    // protocol error, so idle or broken clients cannot pile up file descriptors. Clients reconnect.
    "grpc.max_connection_idle_ms": 300_000,
  });
  addProtobufService(grpcServer, TokenService, opts.handlers, opts.observer);
  const builtins = createBuiltinServices([file_warpflow_auth_v1_token_service], [TokenService.typeName]);
  builtins.addToGrpc(grpcServer);
  const injector = grpcServer.createConnectionInjector(grpc.ServerCredentials.createInsecure());

  // HTTP/1.1: Connect (connect-node), REST, health and metrics.
  const connect = connectNodeAdapter({
    routes: (router) => {
      registerConnectService(router, TokenService, opts.handlers, opts.observer);
      builtins.registerOn(router);
    },
    readMaxBytes: opts.maxBodyBytes,
    contextValues: (req) =>
      createContextValues().set(clientCertVerifiedKey, (req.socket as Partial<TLSSocket>).authorized === true),
  });
  const rest = createRestSessionsHandler(opts.handlers, opts.observer, opts.maxBodyBytes);
  const http1 = http.createServer({ maxHeaderSize: 16 * 1024, requestTimeout: 30_000 }, (req, res) => {
    const path = (req.url ?? "/").split("?")[0]!;
    if (path.startsWith(SERVICE_PATH) || builtins.pathPrefixes.some((p) => path.startsWith(p))) return connect(req, res);
    if (path === "/api/v1/sessions") return void rest(req, res);
    if (req.method !== "GET" && req.method !== "HEAD") return sendError(res, 404, "not_found", `no route for ${req.method} ${path}`);
    if (path === "/healthz") return sendJson(res, 200, { status: "ok" });
    if (path === "/readyz") return sendJson(res, serving ? 200 : 503, { status: serving ? "serving" : "not_serving" });
    if (path === "/metrics") {
      opts.metrics.registry.metrics().then(
        (text) => {
          res.writeHead(200, { "content-type": opts.metrics.registry.contentType });
          res.end(text);
        },
        () => sendError(res, 500, "internal", "metrics unavailable"),
      );
      return;
    }
    sendError(res, 404, "not_found", `no route for GET ${path}`);
  });

  // The HTTP/1.1 server never listens itself (the listener hands it sockets), so http1.close()
  // waits for nothing: count in-flight requests so shutdown can drain them. While draining, every
  // response closes its connection.
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

  const demux = { h2: (s: import("node:stream").Duplex) => injector.injectConnection(s), http1 };
  const listener: net.Server = opts.tls ? createTlsListener(demux, opts.tls) : createPlainListener(demux);
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
      const force = setTimeout(() => {
        grpcServer.forceShutdown();
        http1.closeAllConnections();
      }, timeoutMs);
      force.unref();
      draining = true;
      await Promise.all([
        new Promise<void>((resolve) => grpcServer.tryShutdown(() => resolve())),
        new Promise<void>((resolve) => {
          http1Drained = resolve;
          http1.closeIdleConnections();
          if (http1InFlight === 0) resolve();
        }),
      ]);
      clearTimeout(force);
      http1.closeAllConnections();
    },
  };
}
