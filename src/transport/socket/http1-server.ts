// The HTTP/1.1 server. The listener hands it sockets (it never calls listen()), and Node starts its
// connection list and the header/request timeout checks only on 'listening': without that event a
// half-sent request stays open forever and closeAllConnections() closes nothing. So the server is
// told it is listening (its own handle stays unused), which turns on both.
import * as http from "node:http";
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

export function createHttp1Server(limits: Http1Limits, onRequest: http.RequestListener): http.Server {
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
