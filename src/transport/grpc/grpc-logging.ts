import * as grpc from "@grpc/grpc-js";
import type { Logger } from "pino";

/**
 * @grpc/grpc-js writes its own lines to stderr, some with request content (e.g. "Failed to add
 * metadata entry authorization: Bearer\t wf_admin_..." for a header value with a tab). Its logger
 * is replaced by one that writes through the service's logger and keeps only the text before the
 * first ": " of each line (grpc-js puts the variable part, header names and values included, after
 * it), capped at 120 characters. Nothing a client sends survives that.
 */
export function redactGrpcLogLine(args: unknown[]): string {
  const text = args.map((a) => (typeof a === "string" ? a : a instanceof Error ? a.name : typeof a)).join(" ");
  const cut = text.indexOf(": ");
  const kept = (cut === -1 ? text : `${text.slice(0, cut)}: [redacted]`).slice(0, 120);
  // No control characters or non-ASCII survive either (a header name can carry them).
  return kept.replace(/[^\x20-\x7e]/g, "?");
}

export function routeGrpcLogs(logger: Logger): void {
  const write =
    (level: "debug" | "info" | "warn") =>
    (...args: unknown[]) => {
      if (logger.isLevelEnabled(level))
        logger[level]({ component: "grpc-js", grpc_log: redactGrpcLogLine(args) }, "grpc-js");
    };
  grpc.setLogger({ error: write("warn"), info: write("info"), debug: write("debug") } as unknown as Partial<Console>);
  grpc.setLogVerbosity(grpc.logVerbosity.ERROR);
}
