import type { NodeRequest, NodeResponse } from "../protocol/node-http.js";

/** Small helpers for the plain-HTTP endpoints: header reads, bounded body reads and JSON answers. */

/** CallContext.header for a node request: the first value of a (lower-case) header. */
/**
 * A request header's value as HTTP/1.1 gives it: without leading or trailing spaces and tabs
 * (RFC 9110's optional whitespace; HTTP/2 hands such a value on as sent, see grpc-injector.ts).
 */
export function headerReader(req: NodeRequest): (name: string) => string | undefined {
  return (name) => {
    const raw = req.headers[name];
    const v = Array.isArray(raw) ? raw[0] : raw;
    return v === undefined ? v : trimOws(v);
  };
}

const OWS = /^[ \t]+|[ \t]+$/g;
const trimOws = (v: string) =>
  v.length > 0 && (isOws(v.charCodeAt(0)) || isOws(v.charCodeAt(v.length - 1))) ? v.replace(OWS, "") : v;
const isOws = (c: number) => c === 0x20 || c === 0x09;

/**
 * What is wrong with a request's content-type for an endpoint that takes `expected` (lower-case),
 * a text format read as UTF-8: "type" (another media type, or none), "charset" (a charset
 * parameter other than utf-8 / utf8, quoted or not), or undefined (acceptable). Case-insensitive.
 */
export function contentTypeProblem(value: string | undefined, expected: string): "type" | "charset" | undefined {
  const [type, ...params] = (value ?? "").split(";").map((p) => p.trim().toLowerCase());
  if (type !== expected) return "type";
  const charset = params.find((p) => p.startsWith("charset="))?.slice(8);
  return charset === undefined || /^"?utf-?8"?$/.test(charset) ? undefined : "charset";
}

/** RFC 3339, whole seconds without the ".000", as the plain-HTTP endpoints write times. */
export { rfc3339 } from "../protocol/rfc3339.js";

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export function sendJson(res: NodeResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
    "cache-control": "no-store",
    ...headers,
  });
  res.end(text);
}

export function sendError(
  res: NodeResponse,
  status: number,
  code: string,
  message: string,
  headers?: Record<string, string>,
): void {
  sendJson(res, status, { error: { code, message } }, headers);
}

/** Reads the request body, refusing more than `maxBytes` (413) without reading the excess. */
export function readBody(req: NodeRequest, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"] ?? "0");
    if (declared > maxBytes) {
      reject(new HttpError(413, "payload_too_large", `request body over ${maxBytes} bytes`));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        reject(new HttpError(413, "payload_too_large", `request body over ${maxBytes} bytes`));
        // Stop reading: the 413 closes the connection (HTTP/1.1) or resets the stream (HTTP/2).
        req.removeAllListeners("data");
        req.pause();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    // The client went away (or was timed out) before its body ended: its mistake, not INTERNAL.
    const incomplete = () => reject(new HttpError(400, "invalid_argument", "request body incomplete"));
    req.on("error", incomplete);
    req.on("close", () => {
      if (!req.complete) incomplete();
    });
  });
}
