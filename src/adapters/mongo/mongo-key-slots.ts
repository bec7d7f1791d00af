// The key state changes that the active- and deprecated-keys limits constrain: insert, rotate, revoke.
//
// Race-freedom without transactions: an ACTIVE key must hold a slot s in 0..maxActive-1, and the
// partial unique index {tenantId, slot} over ACTIVE documents lets one ACTIVE key per (tenant, s)
// exist. The server checks it inside each single-document write, so whatever the number of
// concurrent writers on whatever replicas, a tenant never has more than maxActive ACTIVE keys. A
// write that would take an occupied slot fails with E11000 on that index, and the writer tries the
// next slot. Every transition is one conditional single-document write (atomic in MongoDB).
// DEPRECATED keys hold grace slots the same way (mongo-slots.ts).
// https://www.mongodb.com/docs/manual/core/write-operations-atomicity/
import type { Collection } from "mongodb";
import type { KeyExposure, KeyRecord } from "../../domain/records.js";
import type { InsertKeyResult, RotateKeyResult } from "../../ports/token-store.js";
import { fromKeyDoc, type KeyDoc, toKeyDoc } from "./mongo-documents.js";
import {
  deprecateUpdate,
  graceSlotsFor,
  isGraceSlotTaken,
  isSlotTaken,
  type RotateArgs,
  slotOrder,
  usedSlots,
} from "./mongo-slots.js";
import { rotateInTransaction, rotateWork, type RotationTransactions } from "./mongo-rotate-transaction.js";
import { ambientSession } from "./mongo-unit-of-work.js";
import { isTransactionUnsupported } from "./mongo-transaction.js";

export interface KeySlotOps {
  insertKey(key: KeyRecord, maxActive: number): Promise<InsertKeyResult>;
  rotateKey(args: RotateArgs): Promise<RotateKeyResult>;
  revokeKey(args: {
    tenantId: string;
    keyId: string;
    revokedAt: Date;
    revokedBy?: string | undefined;
    exposure?: KeyExposure | undefined;
  }): Promise<KeyRecord | null>;
}

export function createKeySlotOps(
  keys: () => Promise<Collection<KeyDoc>>,
  maxTimeMS: number,
  transactions?: RotationTransactions,
): KeySlotOps {
  /** Inserts `doc` as ACTIVE into the first free slot of `slots`; false when every one is taken. */
  async function insertIntoSlot(coll: Collection<KeyDoc>, doc: KeyDoc, slots: number[]): Promise<KeyDoc | undefined> {
    for (const slot of slots) {
      const candidate: KeyDoc = { ...doc, status: "active", slot };
      try {
        await coll.insertOne(candidate, { maxTimeMS });
        return candidate;
      } catch (err) {
        // Another writer holds this slot: try the next one. Not inside a unit of work's transaction:
        // the error has aborted it, and its runner runs the whole unit again.
        if (isSlotTaken(err) && !ambientSession()) continue;
        throw err; // a duplicate token hash or key id is a real error, as is an outage
      }
    }
    return undefined;
  }

  /**
   * Undoes step 1 of a rotation that could not complete: drops the successor if it was written
   * (its plaintext was never returned, so nobody can hold it), then moves the old key back from
   * DEPRECATED to ACTIVE, only if it is still the DEPRECATED key of THIS rotation (so a revoke in
   * between is never undone), into its old slot or any free one. If no slot is free (a racing
   * CreateKey took the one the rotation freed), the old key stays DEPRECATED, in its grace period
   * (holding its grace slot), without successor.
   */
  async function undoRotation(
    coll: Collection<KeyDoc>,
    tenantId: string,
    keyId: string,
    successorId: string,
    maxActive: number,
    slot?: number,
  ) {
    await coll.deleteOne({ _id: successorId, tenantId, rotatedFromKeyId: keyId }, { maxTimeMS });
    const ours = { _id: keyId, tenantId, status: "deprecated" as const, rotatedToKeyId: successorId };
    for (const s of slotOrder(maxActive, slot)) {
      try {
        // Matched or not, done: no match means it is no longer this rotation's DEPRECATED key
        // (revoked meanwhile), which must be left alone.
        await coll.updateOne(
          ours,
          { $set: { status: "active", slot: s }, $unset: { revokeAt: "", rotatedToKeyId: "", graceSlot: "" } },
          { maxTimeMS },
        );
        return;
      } catch (err) {
        if (!isSlotTaken(err)) throw err;
      }
    }
    await coll.updateOne(ours, { $unset: { rotatedToKeyId: "" } }, { maxTimeMS });
  }

  /**
   * Step 1 of the two-step rotation: ACTIVE -> DEPRECATED into a free grace slot, one conditional
   * write (of several concurrent rotations of this key exactly one matches). "full": every grace
   * slot is held by a key still in its grace. Driver 6+ returns the document itself (null when
   * nothing matched). https://www.mongodb.com/docs/drivers/node/current/upgrade/
   */
  async function deprecate(coll: Collection<KeyDoc>, args: RotateArgs): Promise<KeyDoc | null | "full"> {
    const { tenantId, keyId, successor, revokeAt } = args;
    for (let pass = 0; pass < 2; pass++) {
      const { free, all } = await graceSlotsFor(coll, args, maxTimeMS);
      // Every slot held by a key in its grace at the instant of the read: a linearizable "full".
      if (free.length === 0) return "full";
      for (const g of all) {
        try {
          return await coll.findOneAndUpdate(
            // Not a suspended key: a racing SuspendKey's write and this one never both apply.
            { _id: keyId, tenantId, status: "active", suspendedAt: { $exists: false } },
            deprecateUpdate(revokeAt, successor.id, g),
            {
              returnDocument: "before",
              maxTimeMS,
            },
          );
        } catch (err) {
          if (!isGraceSlotTaken(err)) throw err; // another DEPRECATED key holds g: try the next one
        }
      }
      // Every slot was taken at the write (concurrent rotations): read again.
    }
    return "full";
  }

  return {
    async insertKey(key, maxActive) {
      const coll = await keys();
      const used = await usedSlots(coll, key.tenantId, maxTimeMS);
      const free = slotOrder(maxActive).filter((s) => !used.has(s));
      // The tenant had maxActive ACTIVE keys at the instant of the read: a linearizable "limit".
      // (used.size also counts slots beyond a since-lowered maxActive.)
      if (free.length === 0 || used.size >= maxActive) return { ok: false, reason: "limit" };
      const taken = slotOrder(maxActive).filter((s) => used.has(s));
      const doc = await insertIntoSlot(coll, toKeyDoc({ ...key, status: "active" }), [...free, ...taken]);
      return doc ? { ok: true, key: fromKeyDoc(doc) } : { ok: false, reason: "limit" };
    },

    async rotateKey(args) {
      const { tenantId, keyId, successor, revokeAt, maxActive } = args;
      const startedAt = performance.now(); // the store call's deadline runs from here, not from the transaction's start
      const coll = await keys();
      // Transactions where the deployment has them, as last seen by the driver's monitoring (the
      // server's hello at connect and at every reconnect); undecided (nothing seen yet): try.
      // Inside a unit of work's transaction (mongo-unit-of-work.ts): joined, not a second one.
      const ambient = ambientSession();
      if (ambient) return (await rotateWork(coll, args, maxTimeMS, ambient, true)).value;
      if (transactions && transactions.supported() !== false) {
        try {
          return await rotateInTransaction(transactions, coll, args, maxTimeMS, startedAt);
        } catch (err) {
          // The deployment answered "no transactions here" (a node briefly without --replSet):
          // this call takes the two-step path; the next one asks the topology again.
          if (!isTransactionUnsupported(err)) throw err;
        }
      }
      const before = await deprecate(coll, args);
      if (before === null || before === "full") {
        const current = await coll.findOne({ _id: keyId, tenantId }, { maxTimeMS });
        if (!current) return { ok: false, reason: "not_found" };
        if (current.status === "active" && current.suspendedAt !== undefined) return { ok: false, reason: "suspended" };
        if (current.status === "active") return { ok: false, reason: before === "full" ? "deprecated_limit" : "limit" };
        return { ok: false, reason: "not_active" };
      }
      const { slot: freed, graceSlot: _g, ...rest } = before;
      const previous = fromKeyDoc({ ...rest, status: "deprecated", revokeAt, rotatedToKeyId: successor.id });

      // Step 2: the successor takes the freed slot (whatever its number: the count is unchanged),
      // or any free one.
      let inserted: KeyDoc | undefined;
      try {
        const doc = toKeyDoc({ ...successor, status: "active", rotatedFromKeyId: keyId });
        inserted = await insertIntoSlot(coll, doc, slotOrder(maxActive, freed));
      } catch (err) {
        // Outage or a duplicate successor: undo what can be undone, then report the failure.
        await undoRotation(coll, tenantId, keyId, successor.id, maxActive, freed).catch(() => undefined);
        throw err;
      }
      if (inserted) return { ok: true, previous, key: fromKeyDoc(inserted) };

      // Step 3: every slot was taken between step 1 and step 2 by racing CreateKey calls.
      await undoRotation(coll, tenantId, keyId, successor.id, maxActive, freed);
      return { ok: false, reason: "limit" };
    },

    async revokeKey({ tenantId, keyId, revokedAt, revokedBy, exposure }) {
      const coll = await keys();
      // Matches only a key that is not REVOKED yet: nothing ever moves a REVOKED key. Its active
      // or grace slot is released. An exposure is stored by the same write (one atomic update).
      const exposed = exposure ? { exposure: { ...exposure } } : {};
      const after = await coll.findOneAndUpdate(
        { _id: keyId, tenantId, status: { $ne: "revoked" } },
        revokedBy === undefined
          ? { $set: { status: "revoked", revokedAt, ...exposed }, $unset: { slot: "", graceSlot: "", revokedBy: "" } }
          : { $set: { status: "revoked", revokedAt, revokedBy, ...exposed }, $unset: { slot: "", graceSlot: "" } },
        { returnDocument: "after", maxTimeMS },
      );
      if (after) return fromKeyDoc(after);
      const current = await coll.findOne({ _id: keyId, tenantId }, { maxTimeMS });
      return current ? fromKeyDoc(current) : null;
    },
  };
}
