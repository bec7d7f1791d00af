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
        paths: ["token", "*.token", "authorization", "*.authorization", "headers.authorization", "*.headers.authorization", "bearer", "*.bearer"],
        censor: "[redacted]",
      },
    },
    destination,
  );
}
