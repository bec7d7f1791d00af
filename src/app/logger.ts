import pino, { type Logger } from "pino";

/**
 * pino JSON logs. Nothing logs a token or an Authorization header by design; the redaction list
 * is a second line of defence for fields that must never leave the process.
 */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: "warpflow-token-service" },
      redact: {
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
      },
    },
    // Synchronous writes to stdout: with pino's default asynchronous destination, a line still
    // being written when the process exits lands AFTER the lines written at exit (measured: "stopped"
    // before "last_used_at flushed"). Lines are few (Introspect logs at debug), so the cost is small.
    destination ?? pino.destination({ dest: 1, sync: true }),
  );
}
