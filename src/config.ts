import { readFileSync } from "node:fs";

/**
 * Configuration from the environment, validated once at start and frozen. A bad value throws a
 * ConfigError naming the variable; main prints that one line and exits 1.
 */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
    this.name = "ConfigError";
  }
}

export const DEFAULT_COGNITO_ADMIN_GROUP = "tenant-admins";

export interface CognitoConfig {
  userPoolIds: string[];
  clientIds: string[];
  tokenUse: "access" | "id";
  tenantClaim: string;
  adminGroup: string;
  jwksFile?: string | undefined;
}

export interface TlsConfig {
  certFile: string;
  keyFile: string;
  clientCaFile?: string | undefined;
  /** TLS_CLIENT_CERT_OPTIONAL: ask for a client certificate but let clients without one connect. */
  clientCertOptional: boolean;
}

export interface Config {
  host: string;
  port: number;
  logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
  adminKeyFile: string;
  /** STORE: the store in use; `storeChosenBy` says how it was chosen (see storeChoice). */
  store: "memory" | "mongodb";
  storeChosenBy: "STORE" | "MONGODB_URI" | "default";
  mongodbUri?: string | undefined;
  mongodbDb: string;
  /**
   * Read concern of Introspect's store reads (key and session by token hash, the cache-miss path):
   * "local" (default) or "linearizable" (a deposed primary can then not serve a just-revoked key).
   */
  mongodbIntrospectReadConcern: "local" | "linearizable";
  cacheTtlMs: number;
  cacheMaxEntries: number;
  negativeCacheMaxEntries: number;
  lastUsedFlushMs: number;
  sweepIntervalMs: number;
  maxBodyBytes: number;
  shutdownTimeoutMs: number;
  /** AUDIT_RETENTION_DAYS (MongoDB): audit events are deleted this many days after their time; unset keeps them. */
  auditRetentionDays?: number | undefined;
  /** AUDIT_MAX_EVENTS (embedded store): audit events kept in memory; past it the oldest are dropped. */
  auditMaxEvents: number;
  /** AUDIT_REFUSAL_WINDOW_MS: unauthenticated refusals per (address, action, code, tenant) are counted into one event per window. */
  auditRefusalWindowMs: number;
  /** AUDIT_REFUSAL_MAX_WINDOWS: at most this many such windows open; past it, counted per action only. */
  auditRefusalMaxWindows: number;
  /** Deadline for every store call; past it the store counts as unavailable (UNAVAILABLE). */
  storeTimeoutMs: number;
  cognito?: CognitoConfig | undefined;
  tls?: TlsConfig | undefined;
  introspectRequireClientCert: boolean;
  /** Optional shared credential Introspect callers must present (x-warpflow-caller-token header). */
  introspectCallerToken?: string | undefined;
  /** Connection and request limits on the one port (see limits in docs/security.md). */
  limits: ConnectionLimits;
}

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
}

type Env = Record<string, string | undefined>;

/** floor(2^31 - 1 seconds / 86,400): the largest TTL the server accepts, in whole days. */
export const MAX_AUDIT_RETENTION_DAYS = Math.floor(2_147_483_647 / 86_400);

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(name, `must be a whole number, got ${JSON.stringify(raw)}`);
  const n = Number(raw);
  if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

function bool(env: Env, name: string): boolean {
  const raw = (env[name] ?? "").toLowerCase();
  if (raw === "" || raw === "false" || raw === "0") return false;
  if (raw === "true" || raw === "1") return true;
  throw new ConfigError(name, `must be true or false, got ${JSON.stringify(env[name])}`);
}

const list = (raw: string | undefined): string[] =>
  (raw ?? "").split(",").map((s) => s.trim()).filter((s) => s !== "");

/**
 * A Cognito user pool id, exactly as aws-jwt-verify parses it (region, "_", id), so that every id
 * accepted here is accepted by the verifier (e.g. us-gov-west-1_x, eusc-de-east-1_x).
 */
const USER_POOL_ID = /^(?:eusc-[a-z]{2}|[a-z]{2})-(?:gov-)?[a-z]+-\d_[a-zA-Z0-9]+$/;

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

export function loadConfig(env: Env = process.env): Readonly<Config> {
  const logLevel = (env.LOG_LEVEL ?? "info") as Config["logLevel"];
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError("LOG_LEVEL", `must be one of ${LOG_LEVELS.join(", ")}`);

  const mongodbUri = env.MONGODB_URI || undefined;
  if (mongodbUri && !/^mongodb(\+srv)?:\/\//.test(mongodbUri)) {
    throw new ConfigError("MONGODB_URI", "must start with mongodb:// or mongodb+srv://");
  }
  const { store, storeChosenBy } = storeChoice(env, mongodbUri);
  const mongodbDb = env.MONGODB_DB || "warpflow_auth";
  if (!/^[A-Za-z0-9_-]{1,63}$/.test(mongodbDb)) throw new ConfigError("MONGODB_DB", "must be 1-63 letters, digits, _ or -");
  const mongodbIntrospectReadConcern = env.MONGODB_INTROSPECT_READ_CONCERN || "local";
  if (mongodbIntrospectReadConcern !== "local" && mongodbIntrospectReadConcern !== "linearizable") {
    throw new ConfigError(
      "MONGODB_INTROSPECT_READ_CONCERN",
      mongodbIntrospectReadConcern === "majority"
        ? "majority does not close the deposed-primary window (that node answers from its own majority snapshot); use local or linearizable"
        : "must be local or linearizable",
    );
  }

  let cognito: CognitoConfig | undefined;
  // Deduplicated: aws-jwt-verify refuses an issuer configured twice.
  const pools = [...new Set(list(env.COGNITO_USER_POOL_ID))];
  if (pools.length > 0) {
    for (const p of pools) {
      if (!USER_POOL_ID.test(p)) {
        throw new ConfigError("COGNITO_USER_POOL_ID", `${JSON.stringify(p)} is not a user pool id like us-east-1_AbCdEf`);
      }
    }
    const clientIds = [...new Set(list(env.COGNITO_CLIENT_ID))];
    if (clientIds.length === 0) throw new ConfigError("COGNITO_CLIENT_ID", "is required when COGNITO_USER_POOL_ID is set");
    const tokenUse = env.COGNITO_TOKEN_USE || "access";
    if (tokenUse !== "access" && tokenUse !== "id") throw new ConfigError("COGNITO_TOKEN_USE", "must be access or id");
    cognito = {
      userPoolIds: pools,
      clientIds,
      tokenUse,
      tenantClaim: (env.COGNITO_TENANT_CLAIM ?? "").trim() || "custom:tenant_id",
      adminGroup: env.COGNITO_ADMIN_GROUP || DEFAULT_COGNITO_ADMIN_GROUP,
      jwksFile: env.COGNITO_JWKS_FILE || undefined,
    };
  }

  let tls: TlsConfig | undefined;
  if (env.TLS_CERT_FILE || env.TLS_KEY_FILE) {
    if (!env.TLS_CERT_FILE) throw new ConfigError("TLS_CERT_FILE", "is required when TLS_KEY_FILE is set");
    if (!env.TLS_KEY_FILE) throw new ConfigError("TLS_KEY_FILE", "is required when TLS_CERT_FILE is set");
    const clientCaFile = env.TLS_CLIENT_CA_FILE || undefined;
    const clientCertOptional = bool(env, "TLS_CLIENT_CERT_OPTIONAL");
    if (clientCertOptional && !clientCaFile) throw new ConfigError("TLS_CLIENT_CERT_OPTIONAL", "needs TLS_CLIENT_CA_FILE");
    tls = { certFile: env.TLS_CERT_FILE, keyFile: env.TLS_KEY_FILE, clientCaFile, clientCertOptional };
  } else if (env.TLS_CLIENT_CA_FILE) {
    throw new ConfigError("TLS_CLIENT_CA_FILE", "needs TLS_CERT_FILE and TLS_KEY_FILE");
  } else if (env.TLS_CLIENT_CERT_OPTIONAL) {
    throw new ConfigError("TLS_CLIENT_CERT_OPTIONAL", "needs TLS_CERT_FILE, TLS_KEY_FILE and TLS_CLIENT_CA_FILE");
  }
  const introspectRequireClientCert = bool(env, "INTROSPECT_REQUIRE_CLIENT_CERT");
  if (introspectRequireClientCert && !tls?.clientCaFile) {
    throw new ConfigError("INTROSPECT_REQUIRE_CLIENT_CERT", "needs TLS_CLIENT_CA_FILE (mutual TLS)");
  }
  const introspectCallerToken = env.INTROSPECT_CALLER_TOKEN || undefined;
  if (introspectCallerToken !== undefined && introspectCallerToken.length < 32) {
    throw new ConfigError("INTROSPECT_CALLER_TOKEN", "must be at least 32 characters");
  }

  return Object.freeze({
    host: env.HOST || "0.0.0.0",
    port: int(env, "PORT", 8080, 0, 65535),
    logLevel,
    adminKeyFile: env.ADMIN_KEY_FILE || ".warpflow/admin-key",
    store,
    storeChosenBy,
    mongodbUri,
    mongodbDb,
    mongodbIntrospectReadConcern,
    cacheTtlMs: int(env, "CACHE_TTL_MS", 2000, 0, 60_000),
    cacheMaxEntries: int(env, "CACHE_MAX_ENTRIES", 100_000, 1, 10_000_000),
    negativeCacheMaxEntries: int(env, "NEGATIVE_CACHE_MAX_ENTRIES", 50_000, 1, 10_000_000),
    lastUsedFlushMs: int(env, "LAST_USED_FLUSH_MS", 1000, 10, 5000),
    sweepIntervalMs: int(env, "SWEEP_INTERVAL_MS", 60_000, 100, 86_400_000),
    maxBodyBytes: int(env, "MAX_BODY_BYTES", 65_536, 1024, 16_777_216),
    shutdownTimeoutMs: int(env, "SHUTDOWN_TIMEOUT_MS", 10_000, 100, 600_000),
    storeTimeoutMs: int(env, "STORE_TIMEOUT_MS", 2000, 10, 600_000),
    // The TTL index's expireAfterSeconds must fit a signed 32-bit count of seconds (the server
    // refuses more; docs/mongodb.md): 2,147,483,647 s is 24,855 whole days.
    auditRetentionDays: env.AUDIT_RETENTION_DAYS ? int(env, "AUDIT_RETENTION_DAYS", 0, 1, MAX_AUDIT_RETENTION_DAYS) : undefined,
    auditMaxEvents: int(env, "AUDIT_MAX_EVENTS", 50_000, 100, 10_000_000),
    auditRefusalWindowMs: int(env, "AUDIT_REFUSAL_WINDOW_MS", 60_000, 100, 3_600_000),
    auditRefusalMaxWindows: int(env, "AUDIT_REFUSAL_MAX_WINDOWS", 200, 1, 100_000),
    cognito,
    tls,
    introspectRequireClientCert,
    introspectCallerToken,
    limits: loadLimits(env),
  });
}

/**
 * The store is an explicit choice: STORE=mongodb (needs MONGODB_URI) or STORE=memory. Unset, a
 * MONGODB_URI chooses MongoDB, and otherwise the embedded store is the default only outside
 * production: with NODE_ENV=production an unset (or misspelled) choice is an error, never a silent
 * in-memory store.
 */
function storeChoice(env: Env, mongodbUri: string | undefined): Pick<Config, "store" | "storeChosenBy"> {
  const raw = env.STORE ?? "";
  if (raw === "mongodb") {
    if (!mongodbUri) throw new ConfigError("MONGODB_URI", "is required when STORE=mongodb (the connection string, e.g. mongodb://db1,db2,db3/?replicaSet=rs0)");
    return { store: "mongodb", storeChosenBy: "STORE" };
  }
  if (raw === "memory") {
    if (mongodbUri) throw new ConfigError("STORE", "is memory but MONGODB_URI is set: set STORE=mongodb to use MongoDB, or unset MONGODB_URI");
    return { store: "memory", storeChosenBy: "STORE" };
  }
  if (raw !== "") throw new ConfigError("STORE", `must be mongodb or memory, got ${JSON.stringify(raw)}`);
  if (mongodbUri) return { store: "mongodb", storeChosenBy: "MONGODB_URI" };
  if (env.NODE_ENV === "production") {
    throw new ConfigError("STORE", "must be set when NODE_ENV=production: STORE=mongodb with MONGODB_URI, or STORE=memory to run on the embedded store (nothing persisted, not shared between instances)");
  }
  return { store: "memory", storeChosenBy: "default" };
}

/** File descriptors kept free for the process itself (store pool, log, key file, JWKS fetches). */
const FD_MARGIN = 256;

/** The soft limit on open files of this process (Linux /proc), or undefined where unknown. */
export function openFileLimit(readLimits: () => string = () => readFileSync("/proc/self/limits", "utf8")): number | undefined {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readLimits());
    return m && m[1] !== "unlimited" ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

function loadLimits(env: Env): ConnectionLimits {
  const fds = openFileLimit();
  const fdBound = fds === undefined ? 100_000 : Math.max(64, fds - FD_MARGIN);
  const maxConnections = int(env, "MAX_CONNECTIONS", Math.min(fdBound, 100_000), 1, 10_000_000);
  if (maxConnections > fdBound) {
    throw new ConfigError("MAX_CONNECTIONS", `must leave ${FD_MARGIN} of the process's ${String(fds)} file descriptors free (at most ${fdBound})`);
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
  };
}
