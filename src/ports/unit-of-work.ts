// A unit of work (issue 24): store writes that must land together or not at all, such as an admin
// change, its audit event and the webhook messages derived from it. On a store with transactions
// (MongoDB replica sets, sharded clusters) `run` is one multi-document transaction; elsewhere (the
// embedded store, a standalone MongoDB server) it runs `work` as it is, each write on its own.

export interface UnitOfWork {
  /**
   * Runs `work` as one unit. In a transaction, `work` may run more than once (a write conflict
   * re-runs it within the store deadline): anything that must happen once goes through
   * `afterCommit`. A rejection of `work` aborts the unit (nothing of it is stored, in a transaction).
   * Called inside a unit, `work` joins it.
   */
  run<T>(work: () => Promise<T>): Promise<T>;
  /**
   * Runs `effect` once the current unit has committed (log lines, in-process notifications); at
   * once outside a unit or without transactions. Effects of an attempt that is re-run or aborted
   * are dropped. An effect that throws is ignored.
   */
  afterCommit(effect: () => void): void;
  /**
   * Runs `effect` if the current unit fails after its commit was sent (its outcome is unknown: the
   * commit may have landed although the caller is told it failed), once, after the unit. Never
   * outside a unit or without transactions (each write's own outcome is known to its caller).
   */
  ifCommitUnknown(effect: () => void): void;
  /** Is the caller inside a unit that is a transaction (its writes roll back if it fails)? */
  inTransaction(): boolean;
  /** Runs `fn` outside any unit: for work started inside one that must not join it (fire and forget). */
  outside<T>(fn: () => T): T;
}

/** Without transactions: `work` runs as it is; effects run at once. */
export const directUnitOfWork: UnitOfWork = {
  run: (work) => work(),
  afterCommit(effect) {
    try {
      effect();
    } catch {
      // an effect never fails the work
    }
  },
  ifCommitUnknown: () => undefined,
  inTransaction: () => false,
  outside: (fn) => fn(),
};
