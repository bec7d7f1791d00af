import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll } from "vitest";
import { createApp, type App } from "../../src/app/app.js";
import { createLogger } from "../../src/app/logger.js";
import { loadConfig } from "../../src/config.js";
import type { Clock } from "../../src/ports/clock.js";
import type { JwtVerifier } from "../../src/ports/jwt-verifier.js";
import type { StoreChangeFeed } from "../../src/ports/store-changes.js";
import type { TokenStore } from "../../src/ports/token-store.js";
import type { WebhookStore } from "../../src/ports/webhook-store.js";
import { createGrpcTokenClient, type GrpcTokenClient } from "./grpc-client.js";
import { lineSink } from "./log-lines.js";

export interface TestApp {
  app: App;
  port: number;
  /** host:port for gRPC clients. */
  address: string;
  /** http://127.0.0.1:port for HTTP/1.1 (curl, Connect JSON, REST). */
  baseUrl: string;
  adminKey: string;
  adminKeyFile: string;
  grpc: GrpcTokenClient;
  /** Every log line the app wrote (JSON strings). */
  logs: string[];
  close(): Promise<void>;
}

const said = new Set<string>();
/** One line per test file and store kind: which store the end-to-end tests of this file run on. */
function sayStore(what: string): void {
  const kind = what.split(" (")[0]!;
  if (said.has(kind)) return;
  said.add(kind);
  console.log(`end-to-end tests in this file run on ${what}`);
}

/**
 * Starts the real service (real HTTP/2 + HTTP/1.1 listener on an ephemeral port). The store is the
 * embedded one, or MongoDB when MONGODB_URI is set (a fresh database per app), so every end-to-end
 * test runs on either store with one environment variable.
 */
export interface TestAppOptions {
  env?: Record<string, string>;
  clock?: Clock;
  store?: TokenStore;
  changes?: StoreChangeFeed;
  /** With `store`: its webhook endpoints and outbox (restart tests pass the same one to two apps). */
  webhookStore?: WebhookStore;
  jwt?: JwtVerifier;
  logLevel?: string;
  /** false: return once listening, without waiting for readiness (the admin bootstrap may never end). */
  waitReady?: boolean;
  /** false: Introspect and Check served by grpc-js, not directly on the stream (differential tests). */
  grpcDirect?: boolean;
}

export async function startTestApp(opts: TestAppOptions = {}): Promise<TestApp> {
  const dir = mkdtempSync(join(tmpdir(), "wf-test-"));
  const adminKeyFile = join(dir, "admin-key");
  const env: Record<string, string> = {
    HOST: "127.0.0.1",
    PORT: "0",
    ADMIN_KEY_FILE: adminKeyFile,
    LOG_LEVEL: opts.logLevel ?? "info",
    SHUTDOWN_TIMEOUT_MS: "2000",
    ...(process.env.MONGODB_URI && !opts.store
      ? { MONGODB_URI: process.env.MONGODB_URI, MONGODB_DB: `wf_e2e_${randomBytes(6).toString("hex")}` }
      : {}),
    ...opts.env,
  };
  const config = loadConfig(env);
  sayStore(
    opts.store
      ? "an injected store (the test's own wrapper, over the memory store unless it says otherwise)"
      : config.mongodbUri
        ? `MongoDB (MONGODB_URI, database ${env.MONGODB_DB})`
        : "the embedded memory store (set MONGODB_URI to run them on MongoDB)",
  );
  const { lines: logs, stream } = lineSink();
  const logger = createLogger(config.logLevel, stream);
  const app = await createApp({
    config,
    logger,
    clock: opts.clock,
    store: opts.store,
    changes: opts.changes,
    webhookStore: opts.webhookStore,
    jwt: opts.jwt,
    ...(opts.grpcDirect === false ? { grpcDirect: false } : {}),
  });
  if (opts.waitReady !== false) await app.ready;
  const address = `127.0.0.1:${app.port}`;
  const grpc = createGrpcTokenClient(address);
  return {
    app,
    port: app.port,
    address,
    baseUrl: `http://${address}`,
    adminKey: app.bootstrapAdminKey!,
    adminKeyFile,
    grpc,
    logs,
    async close() {
      grpc.close();
      await app.close();
    },
  };
}

/**
 * The one start/stop block, like connect-node's `useNodeServer`: registers a `beforeAll` that starts
 * the app (options given, or computed in the hook by a function) and an `afterAll` that closes it,
 * in the file or `describe` block it is called from. Returns the app; read it in tests and hooks
 * (before the start, reading a field throws). A file's own `beforeAll` registered after this one
 * runs after the start; its own `afterAll` runs before the close.
 */
export function useTestApp(opts: TestAppOptions | (() => TestAppOptions | Promise<TestAppOptions>) = {}): TestApp {
  let started: TestApp | undefined;
  beforeAll(async () => {
    started = await startTestApp(typeof opts === "function" ? await opts() : opts);
  });
  afterAll(async () => {
    await started?.close();
    started = undefined;
  });
  return new Proxy({} as TestApp, {
    get(_, key) {
      if (!started) {
        if (typeof key === "symbol" || key === "then") return undefined;
        throw new Error(`useTestApp: "${key}" read before the app started (read it inside a test or hook)`);
      }
      const value = started[key as keyof TestApp];
      return typeof value === "function" ? value.bind(started) : value;
    },
  });
}
