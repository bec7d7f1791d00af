import * as http2 from "node:http2";

/**
 * The one HTTP/2 request helper for tests that need what no RPC client gives: raw header values,
 * a body held back, the exact status, headers and trailers. `at` is a base URL or a port on
 * 127.0.0.1 (a new session, closed once the stream is), or an open session to reuse (left open).
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
  /** The stream error's code (e.g. ERR_HTTP2_STREAM_ERROR), if any. */
  errorCode?: string;
  /** The RST_STREAM code the stream closed with (0: NO_ERROR). */
  rstCode: number | undefined;
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
  at: string | number | http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  body?: string | Uint8Array,
  connectOptions?: http2.SecureClientSessionOptions,
): H2Request {
  const own = typeof at === "string" || typeof at === "number";
  const session = own ? http2.connect(typeof at === "number" ? `http://127.0.0.1:${at}` : at, connectOptions) : at;
  let error: string | undefined;
  let errorCode: string | undefined;
  const onSessionError = (e: Error) => (error ??= `session: ${e.message}`);
  session.on("error", onSessionError);
  let stream: http2.ClientHttp2Stream;
  try {
    stream = session.request({ ":method": "POST", ...headers });
  } catch (e) {
    if (own) session.destroy();
    else session.off("error", onSessionError);
    throw e;
  }
  let responseHeaders: http2.IncomingHttpHeaders = {};
  let trailers: http2.IncomingHttpHeaders = {};
  const chunks: Buffer[] = [];
  stream.on("response", (h) => (responseHeaders = h));
  stream.on("trailers", (h) => (trailers = h));
  stream.on("data", (c: Buffer) => chunks.push(c));
  stream.on("error", (e: NodeJS.ErrnoException) => {
    error ??= `stream: ${e.message}`;
    errorCode ??= e.code ?? "error";
  });
  const done = new Promise<H2Answer>((resolve) =>
    stream.on("close", () => {
      if (own) session.close();
      else session.off("error", onSessionError);
      const grpcStatus = (trailers["grpc-status"] ?? responseHeaders["grpc-status"]) as string | undefined;
      resolve({
        status: Number(responseHeaders[":status"]),
        headers: responseHeaders,
        trailers,
        body: Buffer.concat(chunks),
        grpcStatus,
        rstCode: stream.rstCode,
        ...(error ? { error } : {}),
        ...(errorCode ? { errorCode } : {}),
      });
    }),
  );
  if (body !== undefined && !stream.writableEnded) stream.end(body); // GET and HEAD are ended by Node already
  return { session, stream, done };
}

/** One request and its whole answer; rejects when the session or the stream failed. */
export async function h2Exchange(
  at: string | number | http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  body: string | Uint8Array = "",
  connectOptions?: http2.SecureClientSessionOptions,
): Promise<H2Answer> {
  const answer = await h2Request(at, headers, body, connectOptions).done;
  if (answer.error) throw new Error(answer.error);
  return answer;
}
