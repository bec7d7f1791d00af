// Every request that is not native gRPC, over HTTP/1.1 or HTTP/2 alike: Connect and gRPC-Web
// (connect-es), REST, health and metrics. One router, so every path behaves the same on both.
import * as http2 from "node:http2";
import type { ClaimingHandler, NodeRequest, NodeResponse } from "../protocol/node-http.js";
import { sendError } from "./json-http.js";
import { createProbeRoutes } from "./probe-routes.js";
import { OAUTH2_INTROSPECT_PATH } from "./oauth2-introspect.js";
import { SECRET_SCANNING_ALERTS_PATH } from "./secret-scanning-alerts.js";
import type { Metrics } from "../../observability/metrics.js";

export interface HttpRoutes {
  /** Connect and gRPC-Web (connect/connect-adapter.ts): tried first, by RPC path. */
  connect: ClaimingHandler;
  rest(req: NodeRequest, res: NodeResponse): Promise<void>;
  /** The forward-auth endpoint (forward-auth.ts). */
  authz(req: NodeRequest, res: NodeResponse): void;
  /** RFC 7662 token introspection (oauth2-introspect.ts). */
  oauth2Introspect(req: NodeRequest, res: NodeResponse): void;
  /** POST /api/v1/secret-scanning/alerts (secret-scanning-alerts.ts); absent: 404 like any unknown path. */
  secretScanning?: ((req: NodeRequest, res: NodeResponse) => Promise<void>) | undefined;
  metrics: Metrics;
  serving(): boolean;
  /** Extra fields of the /readyz body (e.g. the change feed's state); they do not change the status. */
  readinessDetail?: (() => Record<string, unknown>) | undefined;
}

const NO_ROUTE = "no such route (see README.md for the API's routes)";

export function createHttpRouter(routes: HttpRoutes) {
  const probes = createProbeRoutes(routes);
  return (req: NodeRequest, res: NodeResponse): void => {
    stopReadingWhenAnswered(req, res);
    if (routes.connect.handle(req, res)) return;
    const path = (req.url ?? "/").split("?", 1)[0]!;
    if (path === "/api/v1/sessions") return void routes.rest(req, res);
    if (path === "/authz" || path.startsWith("/authz/")) return routes.authz(req, res);
    if (path === OAUTH2_INTROSPECT_PATH) return routes.oauth2Introspect(req, res);
    if (path === SECRET_SCANNING_ALERTS_PATH && routes.secretScanning) return void routes.secretScanning(req, res);
    // A fixed message: the path (and a custom method) is request text, and may carry a token.
    if (req.method !== "GET" && req.method !== "HEAD") return sendError(res, 404, "not_found", NO_ROUTE);
    if (probes(path, res)) return;
    sendError(res, 404, "not_found", NO_ROUTE);
  };
}

/**
 * A response sent before the request body was read to its end (413, 415, 404 on a POST, a refused
 * credential...) ends that request: the server stops reading it. HTTP/2: the stream is reset with
 * NO_ERROR once the response is sent (RFC 9113 section 8.1). HTTP/1.1: see closingServerResponse.
 */
function stopReadingWhenAnswered(req: NodeRequest, res: NodeResponse): void {
  if (!(res instanceof http2.Http2ServerResponse)) return;
  res.once("finish", () => {
    if (!req.complete && !res.stream.closed) res.stream.close(http2.constants.NGHTTP2_NO_ERROR);
  });
}
