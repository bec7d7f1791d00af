import { setDefaultHighWaterMark } from "node:stream";
import { createApp } from "./app/app.js";
import { openLogger } from "./app/logger.js";
import { maintenanceTimeoutMs } from "./app/store-timeout.js";
import { ConfigError, loadConfig } from "./config.js";
import { redactCredentials } from "./app/startup-errors.js";

/**
 * Process entry: config (a bad value exits 1 with one line naming the variable), the app, and
 * signals. SIGTERM/SIGINT: stop accepting, finish in-flight calls, flush pending writes, exit 0.
 * A second signal exits at once.
 */
// Node 22 raised the default stream buffer (highWaterMark) from 16 to 64 KiB: every HTTP/2 stream and
// socket of a flood then buffers four times as much before backpressure (measured on Node 26: a
// gRPC-Web flood of 200 streams took 56 MiB instead of 31). The service keeps Node 20's 16 KiB on
// every runtime, so its memory bounds hold the same way on all of them.
setDefaultHighWaterMark(false, 16 * 1024);
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`config error: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const logger = await openLogger(config.logLevel, config.logFormat);
  const app = await createApp({ config, logger });

  // The logger writes synchronously (see createLogger), so every line is out, in order, at exit.
  let signalled = false;
  const shutdown = (signal: string) => {
    if (signalled) {
      logger.warn({ signal }, "second signal: exiting now");
      process.exit(1);
    }
    signalled = true;
    // A safety net: connections are forced closed at SHUTDOWN_TIMEOUT_MS and the last flush is
    // bounded by the maintenance budget (store-timeout.ts); if anything still hangs past both, exit anyway.
    const bound = config.shutdownTimeoutMs + maintenanceTimeoutMs(config.storeTimeoutMs) + config.storeTimeoutMs + 1000;
    setTimeout(() => {
      logger.error({ ms: bound }, "shutdown did not finish in time: exiting");
      process.exit(1);
    }, bound).unref();
    // close() stops accepting synchronously (before its first await); the line below is written
    // after that, so whoever reads "shutting down" finds new connections already refused.
    const closing = app.close();
    logger.info({ signal }, "shutting down: draining in-flight calls and flushing last_used_at");
    closing.then(
      () => {
        logger.info("stopped");
        process.exit(0);
      },
      (err) => {
        logger.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
}

main().catch((err) => {
  // A start-up failure traced to a setting (an unusable MONGODB_URI, an unreadable TLS file, a HOST
  // that does not resolve, a PORT in use) is one line naming it, like a bad value in loadConfig.
  if (err instanceof ConfigError) process.stderr.write(`config error: ${err.message}\n`);
  else process.stderr.write(`fatal: ${redactCredentials(err instanceof Error ? err.message : String(err))}\n`);
  process.exit(1);
});
