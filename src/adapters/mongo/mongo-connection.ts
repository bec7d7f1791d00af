import type { Logger } from "pino";
import {
  type Db,
  MongoClient,
  type MongoClientOptions,
  ReadConcern,
  ReadPreference,
  type TopologyDescription,
  WriteConcern,
} from "mongodb";
import { StoreUnavailableError } from "../../domain/errors.js";
import { ensureIndexes, IndexConflictError, withIndexBuildConnection } from "./mongo-indexes.js";
import { checkDeployment, isStartupRefusal, refusalOf } from "./mongo-startup-checks.js";
import { DEFAULT_TIMEOUTS, type MongoTimeouts, overriddenTimeouts } from "./mongo-timeouts.js";
import { transactionsFromTopology } from "./mongo-topology.js";

export { DEFAULT_TIMEOUTS, type MongoTimeouts } from "./mongo-timeouts.js";

export interface MongoConnectionOptions {
  uri: string;
  dbName: string;
  logger?: Logger | undefined;
  timeouts?: Partial<MongoTimeouts> | undefined;
  /** AUDIT_RETENTION_DAYS: audit events older than this are deleted by a TTL index; unset keeps them. */
  auditRetentionDays?: number | undefined;
  /** Read concern of the Introspect lookups (by token hash); default "local". */
  introspectReadConcern?: "local" | "linearizable" | undefined;
  /** Back-off between connection attempts: starts at initialMs, doubles, capped at maxMs. */
  retry?: { initialMs?: number; maxMs?: number } | undefined;
}

export interface MongoConnection {
  /**
   * The database, once connected with every index in place. Waits for a connection attempt in
   * progress (bounded by serverSelectionTimeoutMS); otherwise rejects at once with
   * StoreUnavailableError while the background loop keeps retrying.
   */
  db(): Promise<Db>;
  /** Transactions supported by the deployment as the driver last saw it (mongo-topology.ts); undefined: unknown yet. */
  transactionsSupported(): boolean | undefined;
  readonly timeouts: Readonly<MongoTimeouts>;
  close(): Promise<void>;
}

/** Option names given in the connection string's query (lower-cased): those win over our defaults. */
function uriOptionNames(uri: string): Set<string> {
  const q = uri.indexOf("?");
  if (q < 0) return new Set();
  return new Set([...new URLSearchParams(uri.slice(q + 1)).keys()].map((k) => k.toLowerCase()));
}

export function clientOptions(uri: string, timeouts: MongoTimeouts): MongoClientOptions {
  const given = uriOptionNames(uri);
  const opts: MongoClientOptions = { appName: "warpflow-token-service" };
  const defaults = {
    serverSelectionTimeoutMS: timeouts.serverSelectionTimeoutMS,
    connectTimeoutMS: timeouts.connectTimeoutMS,
    socketTimeoutMS: timeouts.socketTimeoutMS,
    waitQueueTimeoutMS: timeouts.waitQueueTimeoutMS,
  } as const;
  for (const [name, value] of Object.entries(defaults)) {
    if (!given.has(name.toLowerCase())) (opts as Record<string, unknown>)[name] = value;
  }
  return opts;
}

/**
 * The database handle every store operation uses. Every write waits for a majority so an
 * acknowledged revoke cannot be rolled back by a failover; every read goes to the primary so a
 * revoked key is never read from a lagging secondary; the read concern is `local` unless an
 * operation names its own (Introspect's linearizable lookups). Set on the Db handle (inherited by
 * its collections and its change stream), which the driver ranks above the client's options, so a
 * connection-string option (`w=1`, `readPreference=secondary`, `readConcernLevel=linearizable`)
 * cannot change them.
 */
export function openDb(client: MongoClient, dbName: string, timeouts: MongoTimeouts): Db {
  return client.db(dbName, {
    readPreference: ReadPreference.PRIMARY,
    readConcern: new ReadConcern("local"),
    writeConcern: new WriteConcern("majority", timeouts.wtimeoutMS),
  });
}

/**
 * Connects in the background, never blocking or throwing at construction (except for a malformed
 * connection string, which is a configuration error). Each attempt uses a fresh MongoClient: a
 * client whose first connect failed is closed and dropped. Once connected and indexed, the driver
 * itself monitors the deployment and reconnects (SDAM), so this loop stops.
 */
export function createMongoConnection(options: MongoConnectionOptions): MongoConnection {
  const timeouts: MongoTimeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
  const log = options.logger?.child({ component: "mongodb" });
  const initialMs = options.retry?.initialMs ?? 100;
  const maxMs = options.retry?.maxMs ?? 5000;
  const opts = clientOptions(options.uri, timeouts);

  let topology: TopologyDescription | undefined;
  const newClient = () => {
    const c = new MongoClient(options.uri, opts);
    topology = undefined;
    // SDAM monitoring: the description the driver derives from each server's hello (at connect,
    // at every heartbeat and so after every reconnect).
    c.on("topologyDescriptionChanged", (event) => {
      if (c === client) topology = event.newDescription;
    });
    return c;
  };
  let client: MongoClient | undefined = newClient(); // validates the connection string now
  const overridden = overriddenTimeouts(client.options as unknown as Record<string, unknown>, timeouts);
  if (Object.keys(overridden).length > 0) {
    log?.warn(
      { timeouts: overridden },
      "MONGODB_URI sets driver timeouts that win over the ones derived from STORE_TIMEOUT_MS (docs/mongodb.md, Timeouts)",
    );
  }
  let connected = false;
  let database: Db | undefined;
  let attempt: Promise<void> | undefined;
  let lastError: unknown;
  let lastLogged = "";
  let backoff = initialMs;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  let fatal: Error | undefined;

  // Aborted by close(): closes the index-build connection, whose reads have no socket timeout.
  const stopBuild = new AbortController();

  async function connectOnce(): Promise<void> {
    try {
      client ??= newClient();
      if (!connected) {
        await client.connect();
        connected = true;
      }
      if (closed) return;
      const db = openDb(client, options.dbName, timeouts);
      await checkDeployment(db, topology, { introspectReadConcern: options.introspectReadConcern });
      const { built } = await withIndexBuildConnection(
        options.uri,
        opts,
        options.dbName,
        log,
        (build) => ensureIndexes(db, { auditRetentionDays: options.auditRetentionDays, build }),
        stopBuild.signal,
      );
      if (built.length > 0) log?.info({ indexes: built }, "MongoDB indexes built");
      if (closed) return;
      database = db;
      lastError = undefined;
      log?.info({ db: options.dbName }, "MongoDB connected; indexes in place");
    } catch (caught) {
      const err = refusalOf(caught, options.dbName);
      lastError = err;
      if (!connected && client) {
        const failed = client;
        client = undefined;
        void failed.close().catch(() => undefined);
      }
      if (closed) return;
      if (isStartupRefusal(err)) {
        // A configuration error: one clear line, no retry (the operator must act, then restart).
        fatal = err;
        const where = err instanceof IndexConflictError ? { collection: err.collection, index: err.index } : {};
        log?.error(where, err.message);
        return;
      }
      const message = (err as Error).message;
      if (message !== lastLogged) {
        lastLogged = message;
        log?.warn(
          { err: message, retryInMs: backoff },
          connected ? "MongoDB index creation failed; retrying" : "MongoDB unreachable; retrying",
        );
      }
      timer = setTimeout(start, backoff);
      timer.unref();
      backoff = Math.min(backoff * 2, maxMs);
    }
  }

  function start(): void {
    if (closed || database) return;
    attempt = connectOnce().finally(() => {
      attempt = undefined;
    });
  }
  start();

  const unavailable = () => {
    if (fatal) return new StoreUnavailableError(fatal.message, { cause: fatal });
    const why = lastError instanceof Error ? `: ${lastError.message}` : "";
    return new StoreUnavailableError(`MongoDB not connected yet${why}`, { cause: lastError });
  };

  return {
    timeouts,
    transactionsSupported: () => transactionsFromTopology(topology),
    async db() {
      if (database) return database;
      if (closed) throw new StoreUnavailableError("MongoDB store is closed");
      if (attempt) await attempt;
      if (database) return database;
      throw unavailable();
    },
    async close() {
      closed = true;
      clearTimeout(timer);
      // Never wait on an index build (no socket timeout: it may run for hours): close its
      // connection, then the client (which fails its in-flight operations), and give the start-up
      // attempt at most connectTimeoutMS to notice. The server finishes or drops the build itself.
      stopBuild.abort();
      database = undefined;
      const c = client;
      client = undefined;
      await c?.close().catch(() => undefined);
      let bound: NodeJS.Timeout | undefined;
      await Promise.race([
        attempt,
        new Promise<void>((resolve) => (bound = setTimeout(resolve, timeouts.connectTimeoutMS))),
      ]);
      clearTimeout(bound);
    },
  };
}
