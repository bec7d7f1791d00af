import type { Collection } from "mongodb";
import type { LeaseStore } from "../../ports/lease-store.js";
import { isDuplicateKey } from "./mongo-errors.js";

/** The `leases` collection: one document per lease, keyed by its name (the built-in _id index). */
export const LEASES_COLLECTION = "leases";

export interface LeaseDoc {
  _id: string;
  holder: string;
  until: Date;
  claimedAt: Date;
}

/**
 * Leases decided by the server: a claim is ONE upsert whose filter matches the lease document only
 * when it has expired or is already ours. When another holder's lease is running, the filter
 * matches nothing, the upsert tries to insert a second document with the same _id, and the unique
 * _id index refuses it (E11000): that claimant lost. Concurrent claimants of a free lease race on
 * the same _id: one insert or update wins, the others get E11000 (a server that retries the upsert
 * itself finds the winner's running lease and refuses again). Writes go with the database's
 * w: majority, so a lease survives a failover. https://www.mongodb.com/docs/manual/reference/method/db.collection.updateOne/#upsert-with-duplicate-values
 */
export function createMongoLeases(
  coll: () => Promise<Collection<LeaseDoc>>,
  maxTimeMS: number,
  run: <T>(operation: string, fn: () => Promise<T>) => Promise<T>,
): LeaseStore {
  return {
    claimLease: ({ name, holder, now, until }) =>
      run("claimLease", async () => {
        try {
          await (await coll()).updateOne(
            { _id: name, $or: [{ until: { $lte: now } }, { holder }] },
            { $set: { holder, until, claimedAt: now } },
            { upsert: true, maxTimeMS },
          );
          return true;
        } catch (err) {
          if (isDuplicateKey(err)) return false;
          throw err;
        }
      }),
    releaseLease: ({ name, holder }) =>
      run("releaseLease", async () => {
        await (await coll()).deleteOne({ _id: name, holder }, { maxTimeMS });
      }),
  };
}
