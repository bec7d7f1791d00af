// The ops port (OPS_PORT): a second listener, plain HTTP/1.1, serving only /healthz, /readyz and
// /metrics, with the same meaning as on the API port. So mutual TLS or a caller token on the API
// port does not break kubelet probes, and a NetworkPolicy can let a scraper reach the metrics
// without reaching the API. Bounded like the API port: its own connection guard (a flood here
// cannot take the API port's connections), the same header, request and keep-alive timeouts and
// header-size limit (socket/http1-server.ts), and it is closed on shutdown.
import type { AddressInfo } from "node:net";
import * as net from "node:net";
import type { ConnectionLimits } from "../config.js";
import { FIXED_LIMITS } from "../config/limits.js";
import { createProbeRouter, type ProbeSources } from "./http/probe-routes.js";
import { createConnectionGuard } from "./socket/connection-guard.js";
import { createHttp1Server } from "./socket/http1-server.js";

export interface OpsServerOptions extends ProbeSources {
  host: string;
  port: number;
  limits: ConnectionLimits;
  /** A refused connection (the ops port's own bounds). */
  onRefused?: ((reason: "per_address" | "total") => void) | undefined;
}

export interface OpsServer {
  port: number;
  /** Stops accepting and closes every connection (probes are short: nothing to drain). */
  close(): void;
}

export async function startOpsServer(opts: OpsServerOptions): Promise<OpsServer> {
  const http1 = createHttp1Server(opts.limits, createProbeRouter(opts));
  const guard = createConnectionGuard({
    maxTotal: FIXED_LIMITS.opsMaxConnections,
    maxPerAddress: FIXED_LIMITS.opsMaxConnectionsPerAddress,
    evictWhenFull: true, // 4 addresses x 16 idle connections shut the probes out (attack finding)
    onRefused: opts.onRefused,
  });
  const listener = net.createServer({ noDelay: true }, (socket) => {
    if (!guard.admit(socket)) return;
    socket.on("error", () => socket.destroy());
    // A connection that sends nothing is closed by the HTTP server's headers timeout (its clock
    // starts with the connection), like a half-sent request.
    http1.emit("connection", socket);
  });
  await new Promise<void>((resolve, reject) => {
    listener.once("error", reject);
    listener.listen(opts.port, opts.host, () => {
      listener.off("error", reject);
      resolve();
    });
  });
  return {
    port: (listener.address() as AddressInfo).port,
    close() {
      listener.close();
      http1.closeAllConnections();
      guard.destroyAll();
    },
  };
}
