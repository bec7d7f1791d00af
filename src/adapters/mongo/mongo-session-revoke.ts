import type { Collection, Filter } from "mongodb";
import { PartialRevocationError } from "../../domain/errors.js";
import type { TokenStore } from "../../ports/token-store.js";
import type { SessionDoc } from "./mongo-documents.js";
import { isUnavailable } from "./mongo-errors.js";
import { INDEX } from "./mongo-indexes.js";

/** Sessions revoked per round trip pair (one `find` of ids, one `updateMany` of those ids). */
export const SESSION_REVOKE_BATCH = 1000;

/**
 * The share of the store's deadline (STORE_TIMEOUT_MS) a tenant-wide revoke may spend before it
 * reports what it did: the rest is left for the answer to reach the caller before the store
 * wrapper (src/app/store-timeout.ts) gives up with no count.
 */
export const sessionRevokeBudgetMs = (storeDeadlineMs: number): number =>
  Math.max(1, Math.floor(storeDeadlineMs * 0.75));

export interface SessionRevokeOptions {
  /** The whole call's own budget (ms); see sessionRevokeBudgetMs. */
  budgetMs: number;
  /** Server-side limit of one `find` or `updateMany` (lowered to what is left of the budget). */
  maxTimeMS: number;
  batchSize?: number | undefined;
}

type RevokeTenantSessions = TokenStore["revokeTenantSessions"];
type RevokeSessionsCreatedBy = TokenStore["revokeSessionsCreatedBy"];

/** The batched walk both revocations share (see createSessionRevoke). */
interface Walk {
  /** What selects the sessions besides "not revoked, live at revokedAt" (an index prefix). */
  match: Filter<SessionDoc>;
  /** The index on {...match, expiresAt} the walk is hinted to. */
  hint: string;
  revokedAt: Date;
  revokedBy: string;
  /** The RPC, for the partial revocation's message. */
  name: string;
  /** Each batch's sessions, once written (each revoked by then, by this call or a concurrent one). */
  written?: ((batch: readonly Pick<SessionDoc, "_id" | "tenantId">[]) => void) | undefined;
}

/**
 * RevokeTenantSessions at scale. The sessions to revoke are the tenant's sessions that are live at
 * the revoke time (`expiresAt > revokedAt`), not revoked, and created at or before it
 * (`createdAt <= revokedAt`: a session created by any instance while this runs is unaffected).
 *
 * One `updateMany` over all of them is neither bounded nor retryable: with millions of sessions it
 * outlasts every timeout and leaves the tenant part-revoked with an unknown count. Instead, batches:
 * `find` up to `batchSize` ids on {tenantId, expiresAt} (in expiresAt order, resuming at the last
 * expiresAt seen), then `updateMany({_id: {$in: ids}, ...the same filter})` (a session revoked
 * meanwhile by RevokeSession is not counted twice), until a batch comes back short. Each document's
 * update is atomic and makes one change event. The call answers the number this call revoked, or,
 * when MongoDB stops answering or the budget is spent, throws PartialRevocationError with the
 * number revoked so far (UNAVAILABLE; the filter makes a retry revoke exactly the rest).
 */
export function createSessionRevoke(
  sessions: () => Promise<Collection<SessionDoc>>,
  options: SessionRevokeOptions,
): RevokeTenantSessions {
  const walk = createWalk(sessions, options);
  return ({ tenantId, revokedAt, revokedBy }) =>
    walk({
      match: { tenantId, createdAt: { $lte: revokedAt } },
      hint: INDEX.sessionTenantExpires,
      revokedAt,
      revokedBy,
      name: "RevokeTenantSessions",
    });
}

/**
 * The sessions an admin key created, on every tenant (RevokeKey of that key): the same batched walk
 * on {createdBy, expiresAt}, whatever the session's createdAt (the creator is being revoked, so a
 * session it minted while this runs goes too, if the walk has not passed its expiresAt yet).
 */
export function createCreatorSessionRevoke(
  sessions: () => Promise<Collection<SessionDoc>>,
  options: SessionRevokeOptions,
): RevokeSessionsCreatedBy {
  const walk = createWalk(sessions, options);
  return ({ createdBy, revokedAt, revokedBy, onRevoked }) =>
    walk({
      match: { createdBy },
      hint: INDEX.sessionCreatedByExpires,
      revokedAt,
      revokedBy,
      name: "the revocation of an admin key's sessions",
      written: onRevoked && ((batch) => onRevoked(batch.map((d) => ({ tenantId: d.tenantId, sessionId: d._id })))),
    });
}

function createWalk(sessions: () => Promise<Collection<SessionDoc>>, options: SessionRevokeOptions) {
  const batchSize = Math.max(1, options.batchSize ?? SESSION_REVOKE_BATCH);
  return async ({ match, hint, revokedAt, revokedBy, name, written }: Walk): Promise<number> => {
    const deadline = performance.now() + options.budgetMs;
    let revoked = 0;
    const partial = (why: string, cause?: unknown) =>
      new PartialRevocationError(
        revoked,
        `${name} stopped after revoking ${revoked} sessions (${why}); retry to revoke the rest`,
        { cause },
      );

    /** Runs one round trip within what is left of the budget; the server stops it at the same time (maxTimeMS). */
    async function step<T>(fn: (maxTimeMS: number) => Promise<T>): Promise<T> {
      const left = Math.floor(deadline - performance.now());
      if (left <= 0) throw partial(`time budget of ${options.budgetMs} ms spent`);
      let timer: NodeJS.Timeout | undefined;
      const expired = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(partial(`time budget of ${options.budgetMs} ms spent`)), left);
      });
      const work = fn(Math.min(options.maxTimeMS, left));
      work.catch(() => undefined); // a late failure after the budget fired is already reported
      try {
        return await Promise.race([work, expired]);
      } catch (err) {
        if (err instanceof PartialRevocationError) throw err;
        if (isUnavailable(err)) throw partial("MongoDB unavailable", err);
        throw err; // a bug, not an outage: INTERNAL
      } finally {
        clearTimeout(timer);
      }
    }

    const coll = await step(() => sessions()); // may wait for a connection attempt in progress
    const base = { ...match, revokedAt: { $exists: false } } as Filter<SessionDoc>;
    let from: Date | undefined;
    for (;;) {
      const expiresAt = from ? { $gt: revokedAt, $gte: from } : { $gt: revokedAt };
      const filter: Filter<SessionDoc> = { ...base, expiresAt };
      const batch = await step((maxTimeMS) =>
        coll
          .find(filter, {
            projection: written ? { _id: 1, expiresAt: 1, tenantId: 1 } : { _id: 1, expiresAt: 1 },
            sort: { expiresAt: 1 },
            limit: batchSize,
            hint,
            maxTimeMS,
          })
          .toArray(),
      );
      if (batch.length === 0) return revoked;
      const ids = batch.map((d) => d._id);
      const r = await step((maxTimeMS) =>
        // Hinted to the _id index: a plan over the walked range would rescan it for every batch.
        coll.updateMany(
          { ...base, expiresAt: { $gt: revokedAt }, _id: { $in: ids } },
          { $set: { revokedAt, revokedBy } },
          { maxTimeMS, hint: { _id: 1 } },
        ),
      );
      revoked += r.modifiedCount;
      written?.(batch);
      if (batch.length < batchSize) return revoked;
      from = batch[batch.length - 1]!.expiresAt;
    }
  };
}
