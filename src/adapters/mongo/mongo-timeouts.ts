// The driver's timeouts, derived from the store's own deadlines so that the driver answers (success
// or a typed failure) before the caller's deadline fires: a write the caller was told failed must
// not be one the driver is still waiting on, and a retryable read's second attempt must still fit.
//
// Driver 7.8+ made the client-side operation timeout (`timeoutMS`, CSOT) a deprecated no-op after a
// connection-pool desynchronization bug, and says to use the per-stage options instead:
// serverSelectionTimeoutMS, waitQueueTimeoutMS, socketTimeoutMS and maxTimeMS.
// https://www.mongodb.com/docs/drivers/node/current/connect/connection-options/csot/
// (node_modules/mongodb/lib/connection_string.js marks `timeoutMS` as `ignored: true`.)
//
// The table with the defaults is in docs/mongodb.md ("Timeouts").
export interface MongoTimeouts {
  /** How long an operation waits for a suitable server (a primary) before failing. */
  serverSelectionTimeoutMS: number;
  /** TCP connect + handshake of one connection. */
  connectTimeoutMS: number;
  /**
   * One socket read or write; a connection idle longer than this on a reply is closed. Above every
   * server-side limit (the server's own MaxTimeMSExpired answers first) and above the change
   * stream's 1 s awaitData getMore.
   */
  socketTimeoutMS: number;
  /** Waiting for a free connection from the pool. */
  waitQueueTimeoutMS: number;
  /** Server-side execution limit of one ordinary operation. */
  maxTimeMS: number;
  /** Server-side execution limit of the background sweeps and flushes (updateMany/deleteMany/bulkWrite). */
  maintenanceMaxTimeMS: number;
  /** How long a w:"majority" write waits for replication before reporting a write-concern error. */
  wtimeoutMS: number;
  /** A whole transaction (RotateKey), retries and commit included: its own deadline, inside STORE_TIMEOUT_MS. */
  transactionBudgetMS: number;
}

/**
 * From the store deadline `storeMs` (STORE_TIMEOUT_MS) and the maintenance deadline `maintenanceMs`
 * (the wrapper's bound on sweeps and flushes, store-timeout.ts):
 * - server selection, pool wait, connect, maxTimeMS and wtimeout: 40 % of storeMs each, so one
 *   selection plus one server-side execution (or replication wait) ends before the deadline, and a
 *   retry after a fast failure (a step-down answers at once) still fits;
 * - the transaction: half of storeMs (its commit, started before that, is bounded by maxTimeMS);
 * - maintenance maxTimeMS: 80 % of maintenanceMs;
 * - the socket timeout: above maintenance maxTimeMS (and never under 2 s, for the change stream).
 */
export function deriveMongoTimeouts(storeMs: number, maintenanceMs: number = storeMs * 5): MongoTimeouts {
  const part = Math.max(1, Math.floor(storeMs * 0.4));
  const maintenanceMaxTimeMS = Math.max(1, Math.floor(maintenanceMs * 0.8));
  return {
    serverSelectionTimeoutMS: part,
    connectTimeoutMS: part,
    waitQueueTimeoutMS: part,
    maxTimeMS: part,
    wtimeoutMS: part,
    transactionBudgetMS: Math.max(1, Math.floor(storeMs / 2)),
    maintenanceMaxTimeMS,
    socketTimeoutMS: Math.max(2000, maintenanceMaxTimeMS + part),
  };
}

/** The timeouts for the default STORE_TIMEOUT_MS (2000 ms) and its maintenance budget (10 s). */
export const DEFAULT_TIMEOUTS: MongoTimeouts = deriveMongoTimeouts(2000);

const CLIENT_OPTIONS = [
  "serverSelectionTimeoutMS",
  "connectTimeoutMS",
  "socketTimeoutMS",
  "waitQueueTimeoutMS",
] as const;

/**
 * The client options whose effective value (the connection string's wins in the driver) differs
 * from the derived one, e.g. `serverSelectionTimeoutMS=30000` in MONGODB_URI: the ordering of the
 * table no longer holds for them, which start-up logs once.
 */
export function overriddenTimeouts(
  effective: Readonly<Record<string, unknown>>,
  derived: MongoTimeouts,
): Record<string, { uri: unknown; derived: number }> {
  const out: Record<string, { uri: unknown; derived: number }> = {};
  for (const name of CLIENT_OPTIONS) {
    if (effective[name] !== derived[name]) out[name] = { uri: effective[name], derived: derived[name] };
  }
  return out;
}
