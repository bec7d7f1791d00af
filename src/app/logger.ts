import pino, { type Logger } from "pino";
import type { LogFormat } from "../config.js";

const REDACT = {
  paths: [
    "token",
    "*.token",
    "authorization",
    "*.authorization",
    "headers.authorization",
    "*.headers.authorization",
    "bearer",
    "*.bearer",
  ],
  censor: "[redacted]",
};

/**
 * pino JSON logs. Nothing logs a token or an Authorization header by design; the redaction list
 * is a second line of defence for fields that must never leave the process. `json` (default): one
 * JSON object per line, epoch-millisecond `time`, numeric `level`; `json-iso`: the same lines with
 * an ISO 8601 `time` and the level's name (what log shippers such as Elastic, Loki or Cloud Logging
 * parse without a mapping).
 */
export function createLogger(
  level: string,
  destination?: pino.DestinationStream,
  format: Exclude<LogFormat, "pretty"> = "json",
): Logger {
  return pino(
    {
      level,
      base: { service: "warpflow-token-service" },
      redact: REDACT,
      ...(format === "json-iso" && {
        timestamp: pino.stdTimeFunctions.isoTime,
        formatters: { level: (label: string) => ({ level: label }) },
      }),
    },
    // Synchronous writes to stdout: with pino's default asynchronous destination, a line still
    // being written when the process exits lands AFTER the lines written at exit (measured: "stopped"
    // before "last_used_at flushed"). Lines are few (Introspect logs at debug), so the cost is small.
    destination ?? pino.destination({ dest: 1, sync: true }),
  );
}

/**
 * The process's logger, as LOG_FORMAT says. `pretty` formats for a person at a terminal with
 * pino-pretty, imported only then (colour only on a terminal, and never with NO_COLOR); the lines
 * are redacted before they are formatted, as in JSON.
 */
export async function openLogger(
  level: string,
  format: LogFormat,
  out: NodeJS.WritableStream & { isTTY?: boolean } = process.stdout,
): Promise<Logger> {
  if (format !== "pretty") return createLogger(level, out === process.stdout ? undefined : out, format);
  const { default: pretty } = await import("pino-pretty");
  const colorize = out.isTTY === true && !process.env.NO_COLOR;
  const stream = pretty({
    destination: out === process.stdout ? 1 : out,
    sync: true,
    colorize,
    translateTime: "SYS:yyyy-mm-dd HH:MM:ss.l",
    ignore: "pid,hostname,service",
  });
  return createLogger(level, stream);
}
