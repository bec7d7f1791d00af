import type { Logger } from "pino";
import type { TokenStore } from "../../ports/token-store.js";

export interface MongoTokenStoreOptions {
  uri: string;
  dbName: string;
  logger?: Logger;
}

/** Placeholder until the MongoDB adapter lands (issue 3). */
export function createMongoTokenStore(_options: MongoTokenStoreOptions): TokenStore {
  throw new Error("MongoDB adapter not implemented yet");
}
