// Start-up conditions that retrying cannot fix: the deployment or the database user does not fit
// this service. The connection loop logs one `error` line with the message, stops retrying and
// stays not ready (every call UNAVAILABLE with this message) until an operator acts and restarts.
import { type Db, MongoServerError, type TopologyDescription } from "mongodb";
import { COLLECTIONS } from "./mongo-documents.js";
import { IndexConflictError } from "./mongo-indexes.js";
import { isShardedTopology, shardedCollections, transactionsFromTopology } from "./mongo-topology.js";

export class StartupRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StartupRefusedError";
  }
}

/** Unauthorized (13): the user lacks a privilege; retrying sends the same command to the same refusal. */
const UNAUTHORIZED = 13;

/** Is `err` one the connection loop must not retry (a configuration error)? */
export const isStartupRefusal = (err: unknown): err is Error =>
  err instanceof StartupRefusedError || err instanceof IndexConflictError;

/** An authorization error at start, as a refusal naming the role needed; anything else unchanged. */
export function refusalOf(err: unknown, dbName: string): unknown {
  // Atlas answers a refused action with AtlasError (8000) "user is not allowed to do action [...]".
  const atlasRefusal =
    err instanceof MongoServerError &&
    err.code === 8000 &&
    /not allowed to do action|not authorized/i.test(err.message);
  if (err instanceof MongoServerError && (err.code === UNAUTHORIZED || atlasRefusal)) {
    return new StartupRefusedError(
      `MongoDB refused a start-up command (${err.codeName ?? "Unauthorized"}, ${String(err.code)}): ${err.message}. The database user needs the readWrite role on ` +
        `database ${dbName} (docs/mongodb.md, "Configuration"); grant it, then restart the service`,
    );
  }
  return err;
}

/**
 * What the deployment must be, checked once connected (before any index is built):
 * - linearizable read concern needs a replica set: a standalone answers every such read with
 *   NotAReplicaSet (76);
 * - on a sharded cluster, `keys` and `audit_events` must stay unsharded: their unique indexes
 *   ({tokenHash}, {tenantId, slot}, {tenantId, graceSlot}, {dedupeKey}) have different prefixes,
 *   and a unique index on a sharded collection must start with the shard key, so the limits
 *   could not be enforced (createIndexes would fail, 67 CannotCreateIndex).
 */
export async function checkDeployment(
  db: Db,
  topology: TopologyDescription | undefined,
  opts: { introspectReadConcern?: "local" | "linearizable" | undefined },
): Promise<void> {
  if (opts.introspectReadConcern === "linearizable" && transactionsFromTopology(topology) === false) {
    throw new StartupRefusedError(
      "MONGODB_INTROSPECT_READ_CONCERN=linearizable needs a replica set, but MongoDB is a standalone server (every linearizable " +
        "read would fail with NotAReplicaSet, 76): use a replica set (a one-node replica set is enough) or set MONGODB_INTROSPECT_READ_CONCERN=local, then restart",
    );
  }
  if (isShardedTopology(topology)) {
    const sharded = await shardedCollections(db, [COLLECTIONS.keys, COLLECTIONS.audit]);
    if (sharded.length > 0) {
      throw new StartupRefusedError(
        `MongoDB collection(s) ${sharded.map((c) => `${db.databaseName}.${c}`).join(", ")} are sharded; keys and audit_events must stay ` +
          `unsharded (their unique indexes cannot include a shard key; see "Supported deployments" in docs/mongodb.md). Unshard them ` +
          `(unshardCollection, 8.0+) or use another database, then restart`,
      );
    }
  }
}
