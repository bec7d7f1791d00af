// A native gRPC request's headers, read as @grpc/grpc-js 1.14 reads them (server-interceptors.js
// BaseServerInterceptingCall and metadata.js Metadata.fromHttp2Headers), for the directly served
// methods (direct-call.ts). grpc-js checks neither `te` nor the content-type's suffix (the
// dispatcher only sends `application/grpc`, `application/grpc+...` and `application/grpc;...`):
// neither is checked here.
import type * as http2 from "node:http2";

/** grpc-js drops a metadata value outside printable ASCII (logged, never an error). */
const LEGAL_VALUE = /^[ -~]*$/;

/** Not request metadata in grpc-js (removed before a handler sees the call's metadata). */
const NOT_METADATA: ReadonlySet<string> = new Set([
  "grpc-timeout",
  "grpc-encoding",
  "grpc-accept-encoding",
  "accept-encoding",
  "te",
  "content-type",
]);

/**
 * The header as grpc-js request metadata: a string value (Node joins a repeated header with ", "),
 * printable ASCII only, no pseudo-header, no `-bin` key (a Buffer there, never a string), none of
 * the transport headers grpc-js removes.
 */
export function metadataValue(headers: http2.IncomingHttpHeaders, name: string): string | undefined {
  if (name.charCodeAt(0) === 58 /* : */ || name.endsWith("-bin") || NOT_METADATA.has(name)) return undefined;
  return legalValue(headers[name]);
}

function legalValue(v: string | string[] | undefined): string | undefined {
  const value = typeof v === "string" ? v : Array.isArray(v) ? v[0] : undefined;
  return value !== undefined && LEGAL_VALUE.test(value) ? value : undefined;
}

/** grpc-js's own pattern: not anchored, so "x1Sy" reads as one second. */
const DEADLINE = /(\d{1,8})\s*([HMSmun])/;
const UNIT_MS: Readonly<Record<string, number>> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

/** A grpc-timeout: the delay grpc-js's timer gets, or the INTERNAL text of an invalid value. */
export type Timeout = { ms: number } | { invalid: string };

/**
 * The request's grpc-timeout as grpc-js reads it: absent (or not printable ASCII): none; no match:
 * INTERNAL `Invalid grpc-timeout value "<value>"` (grpc-js quotes the client's own header back);
 * else amount x unit, truncated to a 32-bit integer (`| 0`, so a huge value can wrap) and given to
 * setTimeout, which fires after 1 ms for anything below 1.
 */
export function timeoutOf(headers: http2.IncomingHttpHeaders): Timeout | undefined {
  const value = legalValue(headers["grpc-timeout"]);
  if (value === undefined) return undefined;
  const match = DEADLINE.exec(value);
  if (match === null) return { invalid: `Invalid grpc-timeout value "${value}"` };
  const ms = (Number(match[1]) * UNIT_MS[match[2]!]!) | 0;
  return { ms: ms >= 1 ? ms : 1 };
}

/** The request's grpc-encoding as grpc-js reads it ("identity" when absent or not printable ASCII). */
export function encodingOf(headers: http2.IncomingHttpHeaders): string {
  return legalValue(headers["grpc-encoding"]) ?? "identity";
}
