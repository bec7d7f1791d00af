// Configuration from the environment, validated once at start and frozen. A bad value throws a
// ConfigError naming the variable; main prints that one line and exits 1. Read by concern:
// config/store-config.ts (STORE, MONGODB_*), config/cognito-config.ts (COGNITO_*),
// config/tls-config.ts (TLS_*, INTROSPECT_*), config/limits.ts (every connection and request
// bound, configurable and fixed); the rest (port, log level, cache, audit, timeouts) here.
import { ConfigError, int, type Env } from "./config/env.js";
import { loadCognitoConfig, type CognitoConfig } from "./config/cognito-config.js";
import { loadLimits, type ConnectionLimits } from "./config/limits.js";
import { loadStoreConfig, type StoreConfig } from "./config/store-config.js";
import { loadCallerConfig, type CallerConfig } from "./config/tls-config.js";
import { loadOpsConfig, type OpsConfig } from "./config/ops-config.js";
import { loadWatchConfig, type WatchConfig } from "./config/watch-config.js";
import { loadOAuth2Config, type OAuth2Config } from "./config/oauth2-config.js";
import { loadSecretScanningConfig, type SecretScanningSettings } from "./config/secret-scanning-config.js";
import { loadWebhookConfig, type WebhookConfig } from "./config/webhook-config.js";

export { ConfigError } from "./config/env.js";
export { DEFAULT_COGNITO_ADMIN_GROUP, type CognitoConfig } from "./config/cognito-config.js";
export { openFileLimit, type ConnectionLimits } from "./config/limits.js";
export type { StoreConfig } from "./config/store-config.js";
export type { CallerConfig, TlsConfig } from "./config/tls-config.js";
export type { LogFormat, OpsConfig } from "./config/ops-config.js";

export interface Config
  extends StoreConfig,
    CallerConfig,
    OpsConfig,
    WatchConfig,
    OAuth2Config,
    SecretScanningSettings {
  host: string;
  port: number;
  logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
  adminKeyFile: string;
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
  /** Connection and request limits on the one port (see limits in docs/security.md). */
  limits: ConnectionLimits;
  /** Lifecycle webhooks (WEBHOOK_*, config/webhook-config.ts). */
  webhooks: WebhookConfig;
}

/** floor(2^31 - 1 seconds / 86,400): the largest TTL the server accepts, in whole days. */
export const MAX_AUDIT_RETENTION_DAYS = Math.floor(2_147_483_647 / 86_400);

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

function loadLogLevel(env: Env): Config["logLevel"] {
  const logLevel = (env.LOG_LEVEL ?? "info") as Config["logLevel"];
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError("LOG_LEVEL", `must be one of ${LOG_LEVELS.join(", ")}`);
  return logLevel;
}

export function loadConfig(env: Env = process.env): Readonly<Config> {
  const logLevel = loadLogLevel(env);
  const storeConfig = loadStoreConfig(env);
  const cognito: CognitoConfig | undefined = loadCognitoConfig(env);
  const callers = loadCallerConfig(env);

  return Object.freeze({
    host: env.HOST || "0.0.0.0",
    port: int(env, "PORT", 8080, 0, 65535),
    logLevel,
    adminKeyFile: env.ADMIN_KEY_FILE || ".warpflow/admin-key",
    ...storeConfig,
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
    auditRetentionDays: env.AUDIT_RETENTION_DAYS
      ? int(env, "AUDIT_RETENTION_DAYS", 0, 1, MAX_AUDIT_RETENTION_DAYS)
      : undefined,
    auditMaxEvents: int(env, "AUDIT_MAX_EVENTS", 50_000, 100, 10_000_000),
    auditRefusalWindowMs: int(env, "AUDIT_REFUSAL_WINDOW_MS", 60_000, 100, 3_600_000),
    auditRefusalMaxWindows: int(env, "AUDIT_REFUSAL_MAX_WINDOWS", 200, 1, 100_000),
    cognito,
    ...callers,
    ...loadWatchConfig(env),
    limits: loadLimits(env),
    ...loadOpsConfig(env),
    ...loadOAuth2Config(env),
    ...loadSecretScanningConfig(env),
    ...loadWebhookConfig(env),
  });
}
