// One multi-document transaction, retries and commit included, bounded by a deadline.
//
// Why not the driver's `session.withTransaction`: it retries a TransientTransactionError and an
// UnknownTransactionCommitResult for up to 120 s (node_modules/mongodb/lib/sessions.js,
// `MAX_TIMEOUT = 120_000`; its CSOT bound `timeoutMS` is a no-op since driver 7.8), long after the
// caller was told UNAVAILABLE at STORE_TIMEOUT_MS, so a rotation could commit minutes later. And
// its commit gets the driver's default `wtimeoutMS: 10000` unless the transaction's write concern
// names one (sessions.js, commitTransaction). This loop follows the same specification steps
// (https://github.com/mongodb/specifications/blob/master/source/transactions-convenient-api/transactions-convenient-api.md)
// but never starts an attempt or a commit after the deadline.
//
// What bounds a commit is less tight than "the time left": `maxCommitTimeMS` is fixed at
// `startTransaction` (the smaller of opts.maxCommitTimeMS and the time left when the attempt
// starts), and one `commitTransaction()` call may send the commit up to `maxAdaptiveRetries` + 1
// times (3 in driver 7.9: sessions.js commitTransaction, executeOperation's retry, then its own
// retry of a retryable error with w: "majority"), each after a server selection and each with that
// same maxTimeMS. A commit started just before the deadline can therefore end after it; the
// caller's store deadline (STORE_TIMEOUT_MS, above this budget) then answers UNAVAILABLE first.
import { MongoError, MongoErrorLabel, MongoServerError, type TransactionOptions, WriteConcern } from "mongodb";
import { StoreUnavailableError } from "../../domain/errors.js";

/** The part of the driver's ClientSession this uses (a scripted stand-in in tests). */
export interface TransactionSession {
  startTransaction(options?: TransactionOptions): void;
  commitTransaction(): Promise<unknown>;
  abortTransaction(): Promise<unknown>;
  inTransaction(): boolean;
}

export interface BoundedTransactionOptions {
  /** Milliseconds from the start within which the transaction must have committed or given up. */
  budgetMs: number;
  /** Majority write concern's wtimeout for the commit. */
  wtimeoutMS: number;
  /** Upper bound of one commit send's server time (maxCommitTimeMS), capped by the time left when the attempt starts. */
  maxCommitTimeMS: number;
  /** Other errors of `work` that mean "retry the whole transaction" (e.g. E11000 on a slot index). */
  retryable?: (err: unknown) => boolean;
  /** Monotonic milliseconds (tests inject a clock). */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/** What `work` decided: commit its writes and return `value`, or abort them and return `value`. */
export type TransactionOutcome<T> = { commit: boolean; value: T };

const hasLabel = (err: unknown, label: string) => err instanceof MongoError && err.hasErrorLabel(label);
export const isTransientTransactionError = (err: unknown) => hasLabel(err, MongoErrorLabel.TransientTransactionError);
export const isUnknownCommitResult = (err: unknown) => hasLabel(err, MongoErrorLabel.UnknownTransactionCommitResult);
/** MaxTimeMSExpired (50) on a commit: retrying with the same limit would not help (spec 10.1). */
const isMaxTimeExpired = (err: unknown) =>
  err instanceof MongoServerError &&
  (err.code === 50 || (err as { writeConcernError?: { code?: number } }).writeConcernError?.code === 50);

/**
 * Transactions need a replica set or mongos; a standalone server answers IllegalOperation (20),
 * "Transaction numbers are only allowed on a replica set member or mongos".
 */
export const isTransactionUnsupported = (err: unknown) =>
  err instanceof MongoServerError && (err.code === 20 || /Transaction numbers are only allowed/.test(err.message));

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Commits the transaction just run. A commit whose result is unknown is retried (commits are
 * idempotent) until the deadline; a transient error asks for the whole transaction again
 * (`{ rerun }`); anything else is thrown. Past the deadline the transaction is aborted, so nothing
 * lands after the caller has been told UNAVAILABLE.
 */
async function commitWithRetry(
  session: TransactionSession,
  deadline: number,
  now: () => number,
  previousError: unknown,
  outOfTime: () => Error,
): Promise<"committed" | { rerun: unknown }> {
  let lastError = previousError;
  for (;;) {
    if (now() >= deadline) {
      // Too late to commit: the caller has been told UNAVAILABLE. Abort, so nothing lands later.
      if (session.inTransaction()) await session.abortTransaction().catch(() => undefined);
      throw lastError instanceof Error ? lastError : outOfTime();
    }
    try {
      await session.commitTransaction();
      return "committed";
    } catch (err) {
      lastError = err;
      // Unknown result: the commit may have applied; retrying it is safe (commits are idempotent).
      if (isUnknownCommitResult(err) && !isMaxTimeExpired(err) && now() < deadline) continue;
      if (isTransientTransactionError(err) && now() < deadline) return { rerun: err };
      throw err;
    }
  }
}

export async function runBoundedTransaction<T>(
  session: TransactionSession,
  work: () => Promise<TransactionOutcome<T>>,
  opts: BoundedTransactionOptions,
): Promise<T> {
  const now = opts.now ?? (() => performance.now());
  const sleep = opts.sleep ?? defaultSleep;
  const deadline = now() + opts.budgetMs;
  const retryable = (err: unknown) => isTransientTransactionError(err) || (opts.retryable?.(err) ?? false);
  let lastError: unknown; // what the previous attempt ended with

  const outOfTime = () =>
    new StoreUnavailableError(`MongoDB transaction did not finish within ${Math.round(opts.budgetMs)} ms`, {
      cause: lastError,
    });
  for (let attempt = 0; ; attempt++) {
    if (attempt === 0 && now() >= deadline) throw outOfTime();
    if (attempt > 0) {
      // The specification's back-off: jitter * min(5 ms * 1.5^attempt, 500 ms).
      const backoff = Math.random() * Math.min(5 * 1.5 ** attempt, 500);
      if (now() + backoff >= deadline) throw lastError;
      await sleep(backoff);
    }
    const left = Math.max(1, Math.floor(deadline - now()));
    session.startTransaction({
      readPreference: "primary",
      // Operation-level write concerns do not apply inside a transaction: the commit's does.
      writeConcern: new WriteConcern("majority", opts.wtimeoutMS),
      maxCommitTimeMS: Math.min(opts.maxCommitTimeMS, left),
    });
    let outcome: TransactionOutcome<T>;
    try {
      outcome = await work();
    } catch (err) {
      if (session.inTransaction()) await session.abortTransaction().catch(() => undefined);
      if (retryable(err) && now() < deadline) {
        lastError = err;
        continue;
      }
      throw err;
    }
    if (!outcome.commit) {
      if (session.inTransaction()) await session.abortTransaction().catch(() => undefined);
      return outcome.value;
    }
    const commit = await commitWithRetry(session, deadline, now, lastError, outOfTime);
    if (commit === "committed") return outcome.value;
    lastError = commit.rerun; // a transient error: run the whole transaction again
  }
}
