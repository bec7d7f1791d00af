import { MongoServerError, type Collection, type MongoClient } from "mongodb";
import type { KeyRecord } from "../../domain/records.js";
import type { InsertKeyResult, RotateKeyResult } from "../../ports/token-store.js";
import { fromKeyDoc, type KeyDoc, toKeyDoc } from "./mongo-documents.js";
import { isDuplicateKeyOn } from "./mongo-errors.js";
import { INDEX } from "./mongo-indexes.js";

/**
 * The key state changes that the active-keys limit constrains: insert, rotate, revoke.
 *
 * Race-freedom without transactions: an ACTIVE key must hold a slot s in 0..maxActive-1, and the
 * partial unique index {tenantId, slot} over ACTIVE documents lets one ACTIVE key per (tenant, s)
 * exist. The server checks it inside each single-document write, so whatever the number of
 * concurrent writers on whatever replicas, a tenant never has more than maxActive ACTIVE keys. A
 * write that would take an occupied slot fails with E11000 on that index, and the writer tries the
 * next slot. Every transition is one conditional single-document write (atomic in MongoDB).
 * https://www.mongodb.com/docs/manual/core/write-operations-atomicity/
 */
export interface KeySlotOps {
  insertKey(key: KeyRecord, maxActive: number): Promise<InsertKeyResult>;
  rotateKey(args: { tenantId: string; keyId: string; successor: KeyRecord; revokeAt: Date; maxActive: number }): Promise<RotateKeyResult>;
  revokeKey(args: { tenantId: string; keyId: string; revokedAt: Date; revokedBy?: string | undefined }): Promise<KeyRecord | null>;
}

const isSlotTaken = (err: unknown) => isDuplicateKeyOn(err, INDEX.keyActiveSlot, "slot");

/** 0..maxActive-1 with `first` (when in range) first. */
function slotOrder(maxActive: number, first?: number): number[] {
  const all = Array.from({ length: Math.max(0, maxActive) }, (_, i) => i);
  if (first === undefined || first < 0 || first >= maxActive) return all;
  return [first, ...all.filter((s) => s !== first)];
}

/**
 * Transactions need a replica set or mongos; a standalone server answers IllegalOperation (20),
 * "Transaction numbers are only allowed on a replica set member or mongos".
 */
const isTransactionUnsupported = (err: unknown) =>
  err instanceof MongoServerError && (err.code === 20 || /Transaction numbers are only allowed/.test(err.message));

export function createKeySlotOps(
  keys: () => Promise<Collection<KeyDoc>>,
  maxTimeMS: number,
  client?: () => Promise<MongoClient>,
): KeySlotOps {
  /** Unknown until the first rotation; false on a standalone server. */
  let transactions: boolean | undefined = client ? undefined : false;

  /** Inserts `doc` as ACTIVE into the first free slot of `slots`; false when every one is taken. */
  async function insertIntoSlot(coll: Collection<KeyDoc>, doc: KeyDoc, slots: number[]): Promise<KeyDoc | undefined> {
    for (const slot of slots) {
      const candidate: KeyDoc = { ...doc, status: "active", slot };
      try {
        await coll.insertOne(candidate, { maxTimeMS });
        return candidate;
      } catch (err) {
        if (isSlotTaken(err)) continue; // another writer holds this slot: try the next one
        throw err; // a duplicate token hash or key id is a real error, as is an outage
      }
    }
    return undefined;
  }

  /**
   * The slots held by the tenant's ACTIVE keys now: a hint only, the index decides. The filter
   * includes the partial index's own filter, so the planner can answer it from that index alone.
   */
  async function usedSlots(coll: Collection<KeyDoc>, tenantId: string): Promise<Set<number>> {
    const docs = await coll
      .find({ tenantId, status: "active" }, { projection: { _id: 0, slot: 1 }, maxTimeMS })
      .toArray();
    return new Set(docs.map((d) => d.slot).filter((s): s is number => typeof s === "number"));
  }

  /**
   * Undoes step 1 of a rotation that could not complete: drops the successor if it was written
   * (its plaintext was never returned, so nobody can hold it), then moves the old key back from
   * DEPRECATED to ACTIVE, only if it is still the DEPRECATED key of THIS rotation (so a revoke in
   * between is never undone), into any free slot. If no slot is free (a racing CreateKey took the
   * one the rotation freed), the old key stays DEPRECATED, in its grace period, without successor.
   */
  async function undoRotation(coll: Collection<KeyDoc>, tenantId: string, keyId: string, successorId: string, maxActive: number, slot?: number) {
    await coll.deleteOne({ _id: successorId, tenantId, rotatedFromKeyId: keyId }, { maxTimeMS });
    const ours = { _id: keyId, tenantId, status: "deprecated" as const, rotatedToKeyId: successorId };
    for (const s of slotOrder(maxActive, slot)) {
      try {
        // Matched or not, done: no match means it is no longer this rotation's DEPRECATED key
        // (revoked meanwhile), which must be left alone.
        await coll.updateOne(ours, { $set: { status: "active", slot: s }, $unset: { revokeAt: "", rotatedToKeyId: "" } }, { maxTimeMS });
        return;
      } catch (err) {
        if (!isSlotTaken(err)) throw err;
      }
    }
    await coll.updateOne(ours, { $unset: { rotatedToKeyId: "" } }, { maxTimeMS });
  }

  /**
   * Rotation as one multi-document transaction (replica sets, Atlas): deprecating the old key and
   * inserting the successor into the slot it frees commit together or not at all, so no
   * concurrent CreateKey can take the slot in between (the window described in rotateKey below
   * closes). A concurrent writer on the same slot makes one side fail with a WriteConflict, a
   * TransientTransactionError that withTransaction retries. This is an extra: the limit itself is
   * still the unique index's, with or without a transaction.
   * https://www.mongodb.com/docs/manual/core/transactions/
   * https://www.mongodb.com/docs/drivers/node/current/crud/transactions/ (withTransaction)
   */
  async function rotateInTransaction(
    mongo: MongoClient,
    coll: Collection<KeyDoc>,
    { tenantId, keyId, successor, revokeAt, maxActive }: Parameters<KeySlotOps["rotateKey"]>[0],
  ): Promise<RotateKeyResult> {
    const session = mongo.startSession();
    try {
      return await session.withTransaction(async (): Promise<RotateKeyResult> => {
        const before = await coll.findOneAndUpdate(
          { _id: keyId, tenantId, status: "active" },
          { $set: { status: "deprecated", revokeAt, rotatedToKeyId: successor.id }, $unset: { slot: "" } },
          { returnDocument: "before", maxTimeMS, session },
        );
        if (!before) {
          const current = await coll.findOne({ _id: keyId, tenantId }, { maxTimeMS, session });
          return current ? { ok: false, reason: "not_active" } : { ok: false, reason: "not_found" };
        }
        const { slot: freed, ...rest } = before;
        const slot = typeof freed === "number" && freed < maxActive ? freed : slotOrder(maxActive)[0]!;
        const doc: KeyDoc = { ...toKeyDoc({ ...successor, status: "active", rotatedFromKeyId: keyId }), status: "active", slot };
        // No catch here: any error must reach withTransaction (it aborts, and retries transient ones).
        await coll.insertOne(doc, { maxTimeMS, session });
        return {
          ok: true,
          previous: fromKeyDoc({ ...rest, status: "deprecated", revokeAt, rotatedToKeyId: successor.id }),
          key: fromKeyDoc(doc),
        };
        // Operation-level write concerns do not apply inside a transaction: the commit's does.
      }, { writeConcern: { w: "majority" }, readPreference: "primary", maxCommitTimeMS: maxTimeMS });
    } finally {
      await session.endSession();
    }
  }

  return {
    async insertKey(key, maxActive) {
      const coll = await keys();
      const used = await usedSlots(coll, key.tenantId);
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
      const coll = await keys();
      if (transactions !== false && client) {
        try {
          const result = await rotateInTransaction(await client(), coll, args);
          transactions = true;
          return result;
        } catch (err) {
          if (!isTransactionUnsupported(err)) throw err;
          transactions = false; // standalone server: the two-step rotation below
        }
      }
      // Step 1: ACTIVE -> DEPRECATED, one conditional write: of several concurrent rotations of
      // this key exactly one matches. Driver 6+ returns the document itself (null when nothing
      // matched) unless includeResultMetadata is set.
      // https://www.mongodb.com/docs/drivers/node/current/upgrade/ (findOneAnd* return value)
      const before = await coll.findOneAndUpdate(
        { _id: keyId, tenantId, status: "active" },
        { $set: { status: "deprecated", revokeAt, rotatedToKeyId: successor.id }, $unset: { slot: "" } },
        { returnDocument: "before", maxTimeMS },
      );
      if (!before) {
        const current = await coll.findOne({ _id: keyId, tenantId }, { maxTimeMS });
        if (!current) return { ok: false, reason: "not_found" };
        // ACTIVE again: a failed rotation just moved it back; the caller may retry.
        return { ok: false, reason: current.status === "active" ? "limit" : "not_active" };
      }
      const { slot: freed, ...rest } = before;
      const previous = fromKeyDoc({ ...rest, status: "deprecated", revokeAt, rotatedToKeyId: successor.id });

      // Step 2: the successor takes the freed slot (or any free one).
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

    async revokeKey({ tenantId, keyId, revokedAt, revokedBy }) {
      const coll = await keys();
      // Matches only a key that is not REVOKED yet: nothing ever moves a REVOKED key.
      const after = await coll.findOneAndUpdate(
        { _id: keyId, tenantId, status: { $ne: "revoked" } },
        revokedBy === undefined
          ? { $set: { status: "revoked", revokedAt }, $unset: { slot: "", revokedBy: "" } }
          : { $set: { status: "revoked", revokedAt, revokedBy }, $unset: { slot: "" } },
        { returnDocument: "after", maxTimeMS },
      );
      if (after) return fromKeyDoc(after);
      const current = await coll.findOne({ _id: keyId, tenantId }, { maxTimeMS });
      return current ? fromKeyDoc(current) : null;
    },
  };
}
