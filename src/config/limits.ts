// Every bound on what a client can make the server hold, in one place: the configurable ones
// (ConnectionLimits, read from the environment by loadLimits) and the fixed ones (FIXED_LIMITS,
// named here and imported where they apply). docs/security.md explains each against its attack.
//
// Fixed bounds:
//
// | name                          | value          | where it applies                                              |
// |-------------------------------|----------------|---------------------------------------------------------------|
// | http2SessionMemoryMb          | 16 MB          | per HTTP/2 session (grpc-js `grpc-node.max_session_memory`)   |
// | grpcMaxSendBytes              | 4 MiB          | largest message grpc-js sends (`grpc.max_send_message_length`)|
// | http2IdleTimeoutMs            | 300,000 (5 min)| HTTP/2 connection with no calls is closed (grpc-js idle)      |
// | builtinMessageMaxBytes        | 4,096          | health / reflection request message, every protocol           |
// | fdMargin                      | 256            | file descriptors MAX_CONNECTIONS must leave to the process    |
// | sweep cadence (sweepCadenceMs)| timeout/4, 50..1,000 ms | HTTP/2 request deadlines, HTTP/1.1 connection checks |
// | forcedCloseGraceMs            | 100            | after a forced shutdown, wait for sockets' close events       |
// | readinessCheckMs              | 5,000          | store/JWKS readiness probe while ready (app/maintenance.ts)   |
// | readinessRetryFirstMs .. Max  | 100 .. 5,000   | doubling readiness re-probe while not ready                   |
// | failuresToUnready             | 3              | failed probes in a row before /readyz says not serving        |
// | bootstrapRetryFirstMs .. Max  | 200 .. 5,000   | doubling retry of the admin-key bootstrap                     |
// | bootstrapRecheckMs            | 5,000          | admin-key bootstrap re-check (app/admin-key-bootstrap.ts)     |
// | opsMaxConnections             | 64             | open connections on the ops port (OPS_PORT), its own count    |
// | opsMaxConnectionsPerAddress   | 16             | ... of them per client address                                |
//
// Configurable bounds (ConnectionLimits below; README's configuration table): HTTP_HEADERS_TIMEOUT_MS,
// HTTP_REQUEST_TIMEOUT_MS, HTTP_KEEPALIVE_TIMEOUT_MS, MAX_CONNECTIONS(_PER_ADDRESS),
// HTTP2_MAX_CONCURRENT_STREAMS, MAX_OPEN_STREAMS(_PER_ADDRESS), MAX_HEADER_BYTES,
// MAX_CONNECTION_AGE_MS, MAX_CONNECTION_AGE_GRACE_MS; and in Config:
// MAX_BODY_BYTES, STORE_TIMEOUT_MS, SHUTDOWN_TIMEOUT_MS, CACHE_*, AUDIT_*.
import { readFileSync } from "node:fs";
import { ConfigError, int, type Env } from "./env.js";

export const FIXED_LIMITS = Object.freeze({
  /** HTTP/2 session memory bound (MB, Node's unit); grpc-js would otherwise make it unlimited. */
  http2SessionMemoryMb: 16,
  /** The largest message the grpc-js server sends. */
  grpcMaxSendBytes: 4 * 1024 * 1024,
  /**
   * Close HTTP/2 connections idle for 5 minutes (no calls), including ones left open after a
   * protocol error, so idle or broken clients cannot pile up file descriptors. Clients reconnect.
   */
  http2IdleTimeoutMs: 300_000,
  /**
   * The largest request message of health and reflection, on every protocol: a service, symbol or
   * file name of a few hundred bytes is plenty. (Before: the server-wide 64 KiB, and 200 reflection
   * streams writing 60,000-byte symbols grew the process by 931 MiB in 4 s: test/hardening/
   * stream-memory.test.ts.) A larger one is RESOURCE_EXHAUSTED.
   */
  builtinMessageMaxBytes: 4096,
  /** File descriptors kept free for the process itself (store pool, log, key file, JWKS fetches). */
  fdMargin: 256,
  /** After a forced shutdown, how long to wait for the sockets' close events. */
  forcedCloseGraceMs: 100,
  /** Readiness probe cadence (store, JWKS) while ready. */
  readinessCheckMs: 5000,
  /** First delay of the doubling readiness re-probe while not ready (at most retryBackoffMaxMs). */
  readinessRetryFirstMs: 100,
  /** Failed readiness probes in a row before the server reports not serving. */
  failuresToUnready: 3,
  /** First delay of the doubling admin-key bootstrap retry (at most retryBackoffMaxMs). */
  bootstrapRetryFirstMs: 200,
  /** The admin-key bootstrap's re-check cadence. */
  bootstrapRecheckMs: 5000,
  /** The largest delay of the doubling retries. */
  retryBackoffMaxMs: 5000,
  /**
   * The ops port (OPS_PORT) admits its own connections, apart from the API port's: kubelet and a
   * scraper need a handful, and a flood there can neither take the API port's connections nor
   * more than these file descriptors (within fdMargin).
   */
  opsMaxConnections: 64,
  opsMaxConnectionsPerAddress: 16,
});

/** How often a timeout is checked: a quarter of it, between 50 ms and 1 s. */
export const sweepCadenceMs = (timeoutMs: number): number => Math.max(50, Math.min(1000, timeoutMs / 4));

export interface ConnectionLimits {
  /** HTTP/1.1: a request whose headers are not complete by then gets 408 and is closed. */
  headersTimeoutMs: number;
  /** HTTP/1.1 and HTTP/2: a request (headers and body) not complete by then is refused and closed. */
  requestTimeoutMs: number;
  /** HTTP/1.1: an idle keep-alive connection is closed after this long. */
  keepAliveTimeoutMs: number;
  /** Open connections one client address may hold (0 = no per-address bound). */
  maxConnectionsPerAddress: number;
  /** Open connections in all (a margin of file descriptors stays free for the process). */
  maxConnections: number;
  /** HTTP/2: concurrent streams per connection. */
  maxConcurrentStreams: number;
  /** Open health Watch and reflection calls in all, every client and protocol together. */
  maxOpenStreams: number;
  /** Open health Watch and reflection calls one client address may hold (0 = no per-address bound). */
  maxOpenStreamsPerAddress: number;
  /** Request header block, decoded (HTTP/1.1 and HTTP/2, gRPC metadata included). */
  maxHeaderBytes: number;
  /** A connection is asked to go (GOAWAY; HTTP/1.1: `Connection: close`) after this long, ±10% (0 = never). */
  maxConnectionAgeMs: number;
  /** After its age, a connection's calls still open are closed after this long. */
  maxConnectionAgeGraceMs: number;
}

/** The soft limit on open files of this process (Linux /proc), or undefined where unknown. */
export function openFileLimit(
  readLimits: () => string = () => readFileSync("/proc/self/limits", "utf8"),
): number | undefined {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readLimits());
    return m && m[1] !== "unlimited" ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** MAX_CONNECTION_AGE_MS: 0 (off) or 1 s .. 1 day; shorter would have clients reconnect all the time. */
function connectionAge(env: Env): number {
  const ms = int(env, "MAX_CONNECTION_AGE_MS", 300_000, 0, 86_400_000);
  if (ms > 0 && ms < 1000) throw new ConfigError("MAX_CONNECTION_AGE_MS", "must be 0 (off) or at least 1000");
  return ms;
}

export function loadLimits(env: Env): ConnectionLimits {
  const FD_MARGIN = FIXED_LIMITS.fdMargin;
  const fds = openFileLimit();
  const fdBound = fds === undefined ? 100_000 : Math.max(64, fds - FD_MARGIN);
  const maxConnections = int(env, "MAX_CONNECTIONS", Math.min(fdBound, 100_000), 1, 10_000_000);
  if (maxConnections > fdBound) {
    throw new ConfigError(
      "MAX_CONNECTIONS",
      `must leave ${FD_MARGIN} of the process's ${String(fds)} file descriptors free (at most ${fdBound})`,
    );
  }
  const headersTimeoutMs = int(env, "HTTP_HEADERS_TIMEOUT_MS", 10_000, 100, 600_000);
  const requestTimeoutMs = int(env, "HTTP_REQUEST_TIMEOUT_MS", 30_000, 100, 600_000);
  if (headersTimeoutMs > requestTimeoutMs) {
    throw new ConfigError("HTTP_HEADERS_TIMEOUT_MS", `must not exceed HTTP_REQUEST_TIMEOUT_MS (${requestTimeoutMs})`);
  }
  return {
    headersTimeoutMs,
    requestTimeoutMs,
    keepAliveTimeoutMs: int(env, "HTTP_KEEPALIVE_TIMEOUT_MS", 5_000, 100, 600_000),
    maxConnectionsPerAddress: int(env, "MAX_CONNECTIONS_PER_ADDRESS", 256, 0, 10_000_000),
    maxConnections,
    maxConcurrentStreams: int(env, "HTTP2_MAX_CONCURRENT_STREAMS", 100, 1, 10_000),
    maxOpenStreams: int(env, "MAX_OPEN_STREAMS", 2_000, 1, 1_000_000),
    maxOpenStreamsPerAddress: int(env, "MAX_OPEN_STREAMS_PER_ADDRESS", 100, 0, 1_000_000),
    maxHeaderBytes: int(env, "MAX_HEADER_BYTES", 16_384, 1024, 1_048_576),
    maxConnectionAgeMs: connectionAge(env),
    maxConnectionAgeGraceMs: int(env, "MAX_CONNECTION_AGE_GRACE_MS", 10_000, 0, 3_600_000),
  };
}
