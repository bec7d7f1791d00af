// The store choice and the MongoDB settings: STORE, MONGODB_URI, MONGODB_DB,
// MONGODB_INTROSPECT_READ_CONCERN.
import { ConfigError, type Env } from "./env.js";

export interface StoreConfig {
  /** STORE: the store in use; `storeChosenBy` says how it was chosen (see storeChoice). */
  store: "memory" | "mongodb";
  storeChosenBy: "STORE" | "MONGODB_URI" | "default";
  mongodbUri?: string | undefined;
  mongodbDb: string;
  /**
   * Read concern of Introspect's store reads (key and session by token hash, the cache-miss path):
   * "local" (default) or "linearizable" (a deposed primary can then not serve a just-revoked key).
   */
  mongodbIntrospectReadConcern: "local" | "linearizable";
}

export function loadStoreConfig(env: Env): StoreConfig {
  const mongodbUri = env.MONGODB_URI || undefined;
  if (mongodbUri && !/^mongodb(\+srv)?:\/\//.test(mongodbUri)) {
    throw new ConfigError("MONGODB_URI", "must start with mongodb:// or mongodb+srv://");
  }
  const { store, storeChosenBy } = storeChoice(env, mongodbUri);
  const mongodbDb = env.MONGODB_DB || "warpflow_auth";
  if (!/^[A-Za-z0-9_-]{1,63}$/.test(mongodbDb))
    throw new ConfigError("MONGODB_DB", "must be 1-63 letters, digits, _ or -");
  const mongodbIntrospectReadConcern = env.MONGODB_INTROSPECT_READ_CONCERN || "local";
  if (mongodbIntrospectReadConcern !== "local" && mongodbIntrospectReadConcern !== "linearizable") {
    throw new ConfigError(
      "MONGODB_INTROSPECT_READ_CONCERN",
      mongodbIntrospectReadConcern === "majority"
        ? "majority does not close the deposed-primary window (that node answers from its own majority snapshot); use local or linearizable"
        : "must be local or linearizable",
    );
  }
  return { store, storeChosenBy, mongodbUri, mongodbDb, mongodbIntrospectReadConcern };
}

/**
 * The store is an explicit choice: STORE=mongodb (needs MONGODB_URI) or STORE=memory. Unset, a
 * MONGODB_URI chooses MongoDB, and otherwise the embedded store is the default only outside
 * production: with NODE_ENV=production an unset (or misspelled) choice is an error, never a silent
 * in-memory store.
 */
function storeChoice(env: Env, mongodbUri: string | undefined): Pick<StoreConfig, "store" | "storeChosenBy"> {
  const raw = env.STORE ?? "";
  if (raw === "mongodb") {
    if (!mongodbUri)
      throw new ConfigError(
        "MONGODB_URI",
        "is required when STORE=mongodb (the connection string, e.g. mongodb://db1,db2,db3/?replicaSet=rs0)",
      );
    return { store: "mongodb", storeChosenBy: "STORE" };
  }
  if (raw === "memory") {
    if (mongodbUri)
      throw new ConfigError(
        "STORE",
        "is memory but MONGODB_URI is set: set STORE=mongodb to use MongoDB, or unset MONGODB_URI",
      );
    return { store: "memory", storeChosenBy: "STORE" };
  }
  if (raw !== "") throw new ConfigError("STORE", "must be mongodb or memory");
  if (mongodbUri) return { store: "mongodb", storeChosenBy: "MONGODB_URI" };
  if (env.NODE_ENV === "production") {
    throw new ConfigError(
      "STORE",
      "must be set when NODE_ENV=production: STORE=mongodb with MONGODB_URI, or STORE=memory to run on the embedded store (nothing persisted, not shared between instances)",
    );
  }
  return { store: "memory", storeChosenBy: "default" };
}
