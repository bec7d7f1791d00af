// What operators and log shippers see: the ops port (OPS_PORT) and the log format (LOG_FORMAT).
import { ConfigError, int, type Env } from "./env.js";

/** json: one JSON object per line, epoch-ms `time`, numeric `level` (pino's default; unchanged).
 * json-iso: the same lines with an ISO 8601 `time` and the level's name (for log shippers).
 * pretty: pino-pretty, for a person at a terminal (loaded only when asked for). */
export const LOG_FORMATS = ["json", "json-iso", "pretty"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface OpsConfig {
  /** OPS_PORT: a second, plain-HTTP listener serving only /healthz, /readyz and /metrics; unset = none. */
  opsPort?: number | undefined;
  logFormat: LogFormat;
}

export function loadOpsConfig(env: Env): OpsConfig {
  const apiPort = int(env, "PORT", 8080, 0, 65535);
  const opsPort = env.OPS_PORT === undefined || env.OPS_PORT === "" ? undefined : int(env, "OPS_PORT", 0, 0, 65535);
  if (opsPort !== undefined && opsPort !== 0 && opsPort === apiPort)
    throw new ConfigError("OPS_PORT", `must differ from PORT (${apiPort})`);
  const logFormat = (env.LOG_FORMAT || "json") as LogFormat;
  if (!LOG_FORMATS.includes(logFormat)) throw new ConfigError("LOG_FORMAT", `must be one of ${LOG_FORMATS.join(", ")}`);
  return { opsPort, logFormat };
}
