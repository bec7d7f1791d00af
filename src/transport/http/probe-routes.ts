// The probe endpoints, one copy for both listeners: /healthz (liveness: the process answers),
// /readyz (readiness: the service can answer calls; 503 otherwise) and /metrics (Prometheus).
// Served on the API port (http-router.ts) and, with OPS_PORT, on the ops port (ops-server.ts).
import type { NodeRequest, NodeResponse } from "../protocol/node-http.js";
import { sendError, sendJson } from "./json-http.js";
import type { Metrics } from "../../observability/metrics.js";

export interface ProbeSources {
  metrics: Metrics;
  serving(): boolean;
  /** Extra fields of the /readyz body (e.g. the change feed's state); they do not change the status. */
  readinessDetail?: (() => Record<string, unknown>) | undefined;
}

/**
 * Renders the Prometheus text at most once at a time: requests arriving while a render runs share
 * the NEXT one (started when it ends, so every answer is as fresh as its request), and every answer
 * of one render sends the same Buffer. Without this, 50 HTTP/2 connections from one address asking
 * 100 /metrics each and never reading (window 0) cost 5,000 renders of ~60 KB, each kept until read:
 * RSS 144 -> 433 MiB and /readyz 10 s late (docs/security.md).
 */
export function createMetricsRenderer(render: () => Promise<string>): () => Promise<Buffer> {
  let running: Promise<Buffer> | undefined;
  let queued: Promise<Buffer> | undefined;
  const start = (): Promise<Buffer> => {
    const p = render().then((text) => Buffer.from(text));
    running = p;
    const clear = () => {
      if (running === p) running = undefined;
    };
    p.then(clear, clear);
    return p;
  };
  return () => {
    if (!running) return start();
    queued ??= running
      .then(
        () => undefined,
        () => undefined,
      )
      .then(() => {
        queued = undefined;
        return start();
      });
    return queued;
  };
}

/** Answers a GET/HEAD of /healthz, /readyz or /metrics and returns true; false for any other path. */
export function createProbeRoutes(src: ProbeSources): (path: string, res: NodeResponse) => boolean {
  const renderMetrics = createMetricsRenderer(() => src.metrics.registry.metrics());
  return (path, res) => {
    if (path === "/healthz") {
      sendJson(res, 200, { status: "ok" });
      return true;
    }
    if (path === "/readyz") {
      const serving = src.serving();
      sendJson(res, serving ? 200 : 503, { status: serving ? "serving" : "not_serving", ...src.readinessDetail?.() });
      return true;
    }
    if (path === "/metrics") {
      renderMetrics().then(
        (text) => {
          res.writeHead(200, { "content-type": src.metrics.registry.contentType });
          res.end(text);
        },
        () => sendError(res, 500, "internal", "metrics unavailable"),
      );
      return true;
    }
    return false;
  };
}

/** The ops port's whole router: the three probes, GET or HEAD; anything else 404 (405 for a method). */
export function createProbeRouter(src: ProbeSources): (req: NodeRequest, res: NodeResponse) => void {
  const probes = createProbeRoutes(src);
  return (req, res) => {
    const path = (req.url ?? "/").split("?", 1)[0]!;
    if (req.method !== "GET" && req.method !== "HEAD")
      return sendError(res, 405, "method_not_allowed", "only GET and HEAD are served here", { allow: "GET, HEAD" });
    if (!probes(path, res)) sendError(res, 404, "not_found", "only /healthz, /readyz and /metrics are served here");
  };
}
