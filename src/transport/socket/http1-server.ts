// The HTTP/1.1 server. The listener hands it sockets (it never calls listen()), and Node starts its
// connection list and the header/request timeout checks only on 'listening': without that event a
// half-sent request stays open forever and closeAllConnections() closes nothing. So the server is
// told it is listening (its own handle stays unused), which turns on both.
import * as http from "node:http";
import type { Socket } from "node:net";
import { sweepCadenceMs } from "../../config/limits.js";
import { dropRepeatedAuthorization } from "../protocol/bearer.js";
import { limitHttp1ConnectionAge } from "./connection-age.js";

export interface Http1Limits {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  maxHeaderBytes: number;
  maxConnectionAgeMs: number;
  maxConnectionAgeGraceMs: number;
}

/**
 * A response written before its request body was read to the end closes the connection after it
 * (`Connection: close`): otherwise Node keeps reading and discarding the rest of the body to reach
 * the next request on the connection (a chunked body never ends).
 */
class ClosingServerResponse extends http.ServerResponse {
  override writeHead(...args: unknown[]): this {
    // A request with no body (neither Transfer-Encoding nor a non-zero Content-Length, RFC 9112
    // section 6.3) is not complete yet while its 'request' event runs: an answer written at once
    // must not cost it the connection.
    if (!this.req.complete && hasBody(this.req)) this.shouldKeepAlive = false;
    return (super.writeHead as (...a: unknown[]) => this)(...args);
  }
}

function hasBody(req: http.IncomingMessage): boolean {
  const length = req.headers["content-length"];
  return req.headers["transfer-encoding"] !== undefined || (length !== undefined && length !== "0");
}

/**
 * Requests one connection may have waiting for their answers at once. HTTP/1.1 answers pipelined
 * requests in order, and Node parses a whole read (64 KB: ~2,300 `GET /healthz`) before it stops
 * reading, so a client that pipelines and never reads held thousands of queued answers per
 * connection: 100 connections from one address took RSS 135 -> 409 MiB and another client's
 * /readyz 23 s. Past this many, the connection is closed. Gateways and browsers do not pipeline.
 */
export const MAX_PIPELINED_REQUESTS = 32;

export function createHttp1Server(limits: Http1Limits, onRequest: http.RequestListener): http.Server {
  /** Per connection: requests received whose answer has not finished. */
  const pending = new WeakMap<Socket, number>();
  const server = http.createServer(
    {
      maxHeaderSize: limits.maxHeaderBytes,
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      connectionsCheckingInterval: sweepCadenceMs(limits.headersTimeoutMs),
      ServerResponse: ClosingServerResponse as typeof http.ServerResponse,
    },
    (req, res) => {
      const socket = req.socket;
      const waiting = (pending.get(socket) ?? 0) + 1;
      if (socket.destroyed || waiting > MAX_PIPELINED_REQUESTS) {
        socket.destroy();
        return;
      }
      pending.set(socket, waiting);
      res.once("close", () => pending.set(socket, (pending.get(socket) ?? 1) - 1));
      dropRepeatedAuthorization(req.headers, req.rawHeaders);
      onRequest(req, res);
    },
  );
  // Node keeps only the first 1,000 header fields of a request by default and drops the rest without
  // a word, well under the MAX_HEADER_BYTES limit (9 KB of short fields): a gateway's tenant binding
  // (x-warpflow-expected-tenant-id) or a second Authorization sent after 1,000 client fields
  // vanished, and /authz answered 200 instead of 403. No count limit: the byte limit bounds them
  // (431 past it), and every field is seen.
  server.maxHeadersCount = 0;
  server.emit("listening");
  limitHttp1ConnectionAge(server, { ageMs: limits.maxConnectionAgeMs, graceMs: limits.maxConnectionAgeGraceMs });
  return server;
}
