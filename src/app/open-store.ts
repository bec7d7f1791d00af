import type { Logger } from "pino";
import { createMemoryTokenStore } from "../adapters/memory/memory-token-store.js";
import { sessionRevokeBudgetMs } from "../adapters/mongo/mongo-session-revoke.js";
import { createMongoStore } from "../adapters/mongo/mongo-token-store.js";
import type { UnitOfWork } from "../ports/unit-of-work.js";
import { deriveMongoTimeouts } from "../adapters/mongo/mongo-timeouts.js";
import { maintenanceTimeoutMs } from "./store-timeout.js";
import type { StoreChangeFeed } from "../ports/store-changes.js";
import { ConfigError, type Config } from "../config.js";
import type { TokenStore } from "../ports/token-store.js";
import type { WebhookStore } from "../ports/webhook-store.js";
import { createMemoryWebhookStore } from "../adapters/memory/memory-webhook-store.js";
import { redactCredentials } from "./startup-errors.js";

/** The store chosen by configuration (STORE, see config.ts): MongoDB or the embedded store. */
export async function openStore(
  config: Readonly<Config>,
  logger: Logger,
): Promise<{
  store: TokenStore;
  changes?: StoreChangeFeed;
  auditEventsDropped?: () => number;
  webhooks: WebhookStore;
  /** MongoDB: change + audit + outbox in one transaction on replica sets (issue 24); none: direct. */
  unit?: UnitOfWork;
}> {
  if (config.store === "mongodb" && config.mongodbUri) {
    logger.info({ store: "mongodb", chosen_by: config.storeChosenBy, db: config.mongodbDb }, "store: MongoDB");
    try {
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
    } catch (err) {
      // The driver parses the connection string at once: a bad one is a configuration error.
      throw new ConfigError(
        "MONGODB_URI",
        `is not a usable connection string: ${redactCredentials((err as Error).message)}`,
      );
    }
  }
  if (config.storeChosenBy === "STORE" && process.env.NODE_ENV === "production") {
    logger.warn(
      { store: "memory", chosen_by: "STORE" },
      "store: embedded in-memory store, as asked for by STORE=memory in production: data is NOT persisted and NOT shared between instances",
    );
  } else {
    logger.warn(
      { store: "memory", chosen_by: config.storeChosenBy },
      "store: embedded in-memory store; data is NOT persisted (set STORE=mongodb and MONGODB_URI for production)",
    );
  }
  const store = createMemoryTokenStore({ auditMaxEvents: config.auditMaxEvents });
  return {
    store,
    auditEventsDropped: store.auditEventsDropped,
    webhooks: createMemoryWebhookStore({ keys: () => store.keyRecords() }),
  };
}
