import * as http2 from "node:http2";

/**
 * The one HTTP/2 request helper for tests that need what no RPC client gives: raw header values,
 * a body held back, the exact status, headers and trailers. `at` is a base URL or a port on
 * 127.0.0.1. The session is closed once the stream is.
 */
export interface H2Answer {
  /** `:status` (NaN when no response came). */
  status: number;
  headers: http2.IncomingHttpHeaders;
  trailers: http2.IncomingHttpHeaders;
  body: Buffer;
  /** grpc-status from the trailers, or from the headers of a trailers-only answer. */
  grpcStatus: string | undefined;
  /** "session: ..." or "stream: ...": the first error seen, if any. */
  error?: string;
}

export interface H2Request {
  session: http2.ClientHttp2Session;
  stream: http2.ClientHttp2Stream;
  /** Resolves when the stream has closed (never rejects: see `error`). */
  done: Promise<H2Answer>;
}

/**
 * Sends `:method` POST (unless `headers` say otherwise) with `headers`; with `body` the request is
 * ended with it, without it the caller writes and ends `stream`. Throws (after closing the session)
 * when Node's client refuses the headers itself.
 */
export function h2Request(
  at: string | number,
  headers: http2.OutgoingHttpHeaders,
  body?: string | Uint8Array,
  connectOptions?: http2.SecureClientSessionOptions,
): H2Request {
  const session = http2.connect(typeof at === "number" ? `http://127.0.0.1:${at}` : at, connectOptions);
  let error: string | undefined;
  session.on("error", (e: Error) => (error ??= `session: ${e.message}`));
  let stream: http2.ClientHttp2Stream;
  try {
    stream = session.request({ ":method": "POST", ...headers });
  } catch (e) {
    session.destroy();
    throw e;
  }
  let responseHeaders: http2.IncomingHttpHeaders = {};
  let trailers: http2.IncomingHttpHeaders = {};
  const chunks: Buffer[] = [];
  stream.on("response", (h) => (responseHeaders = h));
  stream.on("trailers", (h) => (trailers = h));
  stream.on("data", (c: Buffer) => chunks.push(c));
  stream.on("error", (e: Error) => (error ??= `stream: ${e.message}`));
  const done = new Promise<H2Answer>((resolve) =>
    stream.on("close", () => {
      session.close();
      const grpcStatus = (trailers["grpc-status"] ?? responseHeaders["grpc-status"]) as string | undefined;
      resolve({ status: Number(responseHeaders[":status"]), headers: responseHeaders, trailers, body: Buffer.concat(chunks), grpcStatus, ...(error ? { error } : {}) });
    }),
  );
  if (body !== undefined) stream.end(body);
  return { session, stream, done };
}

/** One request and its whole answer; rejects when the session or the stream failed. */
export async function h2Exchange(at: string | number, headers: http2.OutgoingHttpHeaders, body: string | Uint8Array = ""): Promise<H2Answer> {
  const answer = await h2Request(at, headers, body).done;
  if (answer.error) throw new Error(answer.error);
  return answer;
}
