import { randomBytes } from "node:crypto";
import { type Db, MongoClient } from "mongodb";
import { createMongoTokenStore } from "../../src/adapters/mongo/mongo-token-store.js";
import type { TokenStore } from "../../src/ports/token-store.js";
import { pollUntil } from "./poll.js";

/**
 * How the MongoDB leg of the tests gets a MongoDB:
 * 1. MONGODB_URI, when set (a replica set is best: `mongodb://localhost:27017/?replicaSet=rs0`);
 * 2. else mongodb-memory-server-core starting a one-node replica set from MONGOMS_SYSTEM_BINARY,
 *    from its binary cache, or from a download when MONGOMS_RUNTIME_DOWNLOAD=true;
 * 3. else the leg is skipped, fast, with one line that says why and how to run it.
 *
 * Downloads are off unless asked for (MONGOMS_RUNTIME_DOWNLOAD=false when unset): where the
 * download is blocked it costs ~7 s to fail, against ~10 ms to find no binary.
 */
export type MongoForTests =
  | { available: true; uri: string; source: string; stop(): Promise<void> }
  | { available: false; reason: string };

export const HOW_TO_RUN =
  "run it with `MONGODB_URI=mongodb://localhost:27017/?replicaSet=rs0 npm test`, or MONGOMS_SYSTEM_BINARY=/path/to/mongod, or MONGOMS_RUNTIME_DOWNLOAD=true where the download is reachable";

export async function obtainMongo(): Promise<MongoForTests> {
  const uri = process.env.MONGODB_URI;
  if (uri) return { available: true, uri, source: "MONGODB_URI", stop: async () => undefined };

  process.env.MONGOMS_RUNTIME_DOWNLOAD ??= "false";
  try {
    const { MongoBinary, MongoMemoryReplSet } = await import("mongodb-memory-server-core");
    await MongoBinary.getPath(); // throws at once when there is no binary and no download
    const rs = await MongoMemoryReplSet.create({ replSet: { count: 1, storageEngine: "wiredTiger" } });
    return {
      available: true,
      uri: rs.getUri(),
      source: "mongodb-memory-server",
      stop: () => rs.stop().then(() => undefined),
    };
  } catch (err) {
    const why = (err as Error).message.split("\n")[0];
    return { available: false, reason: `no MONGODB_URI and mongodb-memory-server could not start a mongod (${why})` };
  }
}

let said = false;
/** Prints the skip reason once per test file. */
export function sayMongoSkipped(reason: string): void {
  if (said) return;
  said = true;
  console.log(`MongoDB leg SKIPPED: ${reason}; ${HOW_TO_RUN}.`);
}

/** A database name no other test file or run uses. */
export const uniqueDbName = (prefix: string): string => `${prefix}_${process.pid}_${randomBytes(4).toString("hex")}`;

/** Resolves once the store answers (connected, indexes in place); rejects after `timeoutMs`. */
export async function waitUntilServing(store: TokenStore, timeoutMs = 20_000): Promise<void> {
  let lastError: unknown;
  const answered = () =>
    store.ping().then(
      () => true,
      (err: unknown) => ((lastError = err), false),
    );
  if (!(await pollUntil(answered, timeoutMs, 50))) throw lastError;
}

/** A store on a fresh database, ready to serve; dispose() closes it and drops the database. */
export async function openMongoStore(
  uri: string,
  dbName: string,
): Promise<{ store: TokenStore; dispose(): Promise<void> }> {
  const store = createMongoTokenStore({ uri, dbName });
  await waitUntilServing(store);
  return {
    store,
    async dispose() {
      await store.close();
      await dropDatabase(uri, dbName);
    },
  };
}

/**
 * A store on a fresh database and a driver handle on that database, to inspect what the store
 * wrote; after `fn` both are closed and the database dropped.
 */
export async function withStoreAndDb<T>(
  uri: string,
  prefix: string,
  fn: (store: TokenStore, db: Db) => Promise<T>,
): Promise<T> {
  const dbName = uniqueDbName(prefix);
  const { store, dispose } = await openMongoStore(uri, dbName);
  const client = new MongoClient(uri);
  try {
    return await fn(store, client.db(dbName));
  } finally {
    await client.close();
    await dispose();
  }
}

export async function dropDatabase(uri: string, dbName: string): Promise<void> {
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 5000 });
  try {
    await client.db(dbName).dropDatabase();
  } finally {
    await client.close();
  }
}
