import {
  MongoBulkWriteError,
  MongoError,
  MongoNetworkError,
  MongoNotConnectedError,
  MongoOperationTimeoutError,
  MongoServerError,
  MongoServerSelectionError,
  MongoTopologyClosedError,
} from "mongodb";
import { StoreUnavailableError } from "../../domain/errors.js";

/** E11000: a unique index refused the write. https://www.mongodb.com/docs/manual/core/index-unique/ */
export const DUPLICATE_KEY = 11000;

/**
 * Is `err` a duplicate-key error raised by the index named `indexName`? The server's write error
 * carries `keyPattern` (4.4+) and names the index in its message ("... index: NAME dup key: ...");
 * the driver copies both onto the MongoServerError it throws for insertOne/updateOne/findOneAndUpdate.
 */
export function isDuplicateKeyOn(err: unknown, indexName: string, keyField?: string): boolean {
  if (!(err instanceof MongoServerError) || err.code !== DUPLICATE_KEY) return false;
  if (err.message.includes(`index: ${indexName} `)) return true;
  const pattern = err["keyPattern"] as Record<string, unknown> | undefined;
  return keyField !== undefined && pattern !== undefined && keyField in pattern;
}

export const isDuplicateKey = (err: unknown): boolean => err instanceof MongoServerError && err.code === DUPLICATE_KEY;

/**
 * Server error codes meaning "this node cannot answer now" (elections, shutdown, overload, time
 * limits); the driver's retryable-read/write code list plus time limits and write-concern timeouts.
 * https://github.com/mongodb/specifications/blob/master/source/retryable-writes/retryable-writes.md
 */
const UNAVAILABLE_CODES = new Set<number>([
  6, // HostUnreachable
  7, // HostNotFound
  18, // AuthenticationFailed: the store cannot be used; an operator must act
  50, // MaxTimeMSExpired
  64, // WriteConcernTimeout / WriteConcernFailed
  89, // NetworkTimeout
  91, // ShutdownInProgress
  133, // FailedToSatisfyReadPreference
  134, // ReadConcernMajorityNotAvailableYet
  189, // PrimarySteppedDown
  262, // ExceededTimeLimit
  9001, // SocketException
  10107, // NotWritablePrimary
  11600, // InterruptedAtShutdown
  11602, // InterruptedDueToReplStateChange
  13435, // NotPrimaryNoSecondaryOk
  13436, // NotPrimaryOrSecondary
  10058, // LegacyNotPrimary
  11601, // Interrupted (killOp, or a node interrupting its operations during a state change)
  63, // StaleShardVersion: a mongos routed with an old routing table (sharded sessions)
  150, // StaleEpoch: the collection was dropped/recreated or resharded under the router
  13388, // StaleConfig: the shard's routing metadata is being refreshed
  76, // NotAReplicaSet: a linearizable read on a node that is (now) no replica-set member
  187, // LinearizableReadConcernError: the node could not confirm it is still primary
]);

/**
 * Labels meaning "could not answer now". TransientTransactionError and UnknownTransactionCommitResult
 * reach here only after the bounded transaction gave up (mongo-transaction.ts): an outage or
 * contention that outlasted the store timeout, never a bug; an unknown commit result may still
 * have applied (the key service then revokes the unreturned key).
 */
const UNAVAILABLE_LABELS = [
  "RetryableWriteError",
  "ResetPool",
  "SystemOverloadedError",
  "RetryableError",
  "TransientTransactionError",
  "UnknownTransactionCommitResult",
];

/**
 * Driver errors whose names say "could not reach or use the deployment". These classes are not all
 * exported, so they are recognized by name: the connection pool's checkout timeout and closed pool.
 */
const UNAVAILABLE_NAMES = new Set(["MongoWaitQueueTimeoutError", "MongoPoolClosedError", "MongoPoolClearedError"]);

/**
 * The error a driver wrapper stands for. `bulkWrite` wraps any error of a batch that is not a
 * write error (server selection, pool checkout timeout, closed pool, network) in a
 * MongoBulkWriteError (node_modules/mongodb/lib/bulk/common.js: `throw new
 * MongoBulkWriteError(thrownError, ...)`), whose MongoServerError constructor keeps the original
 * as `errorResponse` (lib/error.js). Only the original says whether MongoDB could answer.
 */
function unwrap(err: unknown): unknown {
  if (err instanceof MongoBulkWriteError && err.errorResponse instanceof Error) return err.errorResponse;
  return err;
}

/**
 * The server error code `err` carries, read from its own fields. A MongoBulkWriteError that the
 * driver builds from a write-concern error at the end of a bulk write (lib/bulk/common.js
 * `handleWriteError`: `new MongoBulkWriteError(writeConcernError, result)`) has no `code` of its
 * own: WriteConcernError's `code` is a prototype getter, which neither MongoServerError's
 * `for...in` copy nor `Object.assign` copies. The code is on the WriteConcernError itself (kept as
 * `errorResponse` and `err`) and in the bulk result's write-concern errors.
 */
function codeOf(err: MongoError): number | undefined {
  if (typeof err.code === "number") return err.code;
  if (!(err instanceof MongoBulkWriteError)) return undefined;
  const fromResponse = (err.errorResponse as { code?: unknown } | undefined)?.code;
  if (typeof fromResponse === "number") return fromResponse;
  if (typeof err.err?.code === "number") return err.err.code;
  const fromResult =
    typeof err.result?.getWriteConcernError === "function" ? err.result.getWriteConcernError()?.code : undefined;
  return typeof fromResult === "number" ? fromResult : undefined;
}

/** Does `err` mean MongoDB could not answer (as opposed to a bug or a refused write)? */
export function isUnavailable(wrapped: unknown): boolean {
  const err = unwrap(wrapped);
  if (err instanceof StoreUnavailableError) return true;
  if (
    err instanceof MongoNetworkError || // includes MongoNetworkTimeoutError and pool-cleared errors
    err instanceof MongoServerSelectionError ||
    err instanceof MongoTopologyClosedError ||
    err instanceof MongoNotConnectedError ||
    err instanceof MongoOperationTimeoutError
  ) {
    return true;
  }
  if (!(err instanceof MongoError)) return false;
  if (UNAVAILABLE_NAMES.has(err.name)) return true;
  const code = codeOf(err);
  if (code !== undefined && UNAVAILABLE_CODES.has(code)) return true;
  if (UNAVAILABLE_LABELS.some((label) => err.hasErrorLabel(label))) return true;
  return /node is recovering|not master|not primary/i.test(err.message);
}

/**
 * The error an operation throws: StoreUnavailableError when MongoDB could not answer (the domain
 * maps it to UNAVAILABLE; never a false result), the error itself otherwise (a bug: INTERNAL).
 */
export function toStoreError(err: unknown, operation: string): unknown {
  if (err instanceof StoreUnavailableError) return err;
  if (isUnavailable(err)) {
    return new StoreUnavailableError(`MongoDB unavailable during ${operation}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return err;
}
