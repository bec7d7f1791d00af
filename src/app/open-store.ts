import type { Logger } from "pino";
import { createMemoryTokenStore } from "../adapters/memory/memory-token-store.js";
import { sessionRevokeBudgetMs } from "../adapters/mongo/mongo-session-revoke.js";
import { createMongoStore } from "../adapters/mongo/mongo-token-store.js";
import { deriveMongoTimeouts } from "../adapters/mongo/mongo-timeouts.js";
import { maintenanceTimeoutMs } from "./store-timeout.js";
import type { StoreChangeFeed } from "../ports/store-changes.js";
import type { Config } from "../config.js";
import type { TokenStore } from "../ports/token-store.js";

/** The store chosen by configuration: MongoDB when MONGODB_URI is set, else the embedded store. */
export async function openStore(
  config: Readonly<Config>,
  logger: Logger,
): Promise<{ store: TokenStore; changes?: StoreChangeFeed; auditEventsDropped?: () => number }> {
  if (config.mongodbUri) {
    logger.info({ db: config.mongodbDb }, "store: MongoDB");
    return createMongoStore({
      uri: config.mongodbUri,
      dbName: config.mongodbDb,
      logger,
      auditRetentionDays: config.auditRetentionDays,
      introspectReadConcern: config.mongodbIntrospectReadConcern,
      // Every driver timeout below the store's deadlines (STORE_TIMEOUT_MS, and the maintenance
      // budget of the background calls), so the driver answers before the caller is told UNAVAILABLE.
      timeouts: deriveMongoTimeouts(config.storeTimeoutMs, maintenanceTimeoutMs(config.storeTimeoutMs)),
      // RevokeTenantSessions reports its count before the store wrapper (STORE_TIMEOUT_MS) gives up.
      sessionRevoke: { budgetMs: sessionRevokeBudgetMs(config.storeTimeoutMs) },
    });
  }
  logger.warn("store: embedded in-memory store; data is NOT persisted (set MONGODB_URI for production)");
  const store = createMemoryTokenStore({ auditMaxEvents: config.auditMaxEvents });
  return { store, auditEventsDropped: store.auditEventsDropped };
}
