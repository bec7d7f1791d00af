import type { ClientSession, Collection } from "mongodb";
import type { RotateKeyResult } from "../../ports/token-store.js";
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
import { runBoundedTransaction, type TransactionOutcome, type TransactionSession } from "./mongo-transaction.js";

/** What a rotation in a transaction needs from the connection. */
export interface RotationTransactions {
  /** A fresh driver session (ended after the rotation). */
  startSession(): Promise<TransactionSession & { endSession(): Promise<void> }>;
  /** Does the deployment support transactions (replica set, sharded, load-balanced)? undefined: not known yet. */
  supported(): boolean | undefined;
  /** The whole transaction, retries and commit included, must finish within this (STORE_TIMEOUT_MS). */
  budgetMs: number;
  /** The commit's majority write concern timeout. */
  wtimeoutMS: number;
}

/**
 * Rotation as one multi-document transaction (replica sets, Atlas): deprecating the old key into a
 * free grace slot and inserting the successor into the active slot it frees commit together or not
 * at all, so no concurrent CreateKey can take the slot in between. Slots are chosen by reads inside
 * the transaction (its snapshot); a concurrent writer of the same slot makes one side fail with a
 * WriteConflict (TransientTransactionError) or E11000 on a slot index, and the whole transaction
 * runs again, within the budget. The limits themselves are still the unique indexes'.
 * https://www.mongodb.com/docs/manual/core/transactions/
 */
export async function rotateInTransaction(
  txn: RotationTransactions,
  coll: Collection<KeyDoc>,
  args: RotateArgs,
  maxTimeMS: number,
  startedAt = performance.now(),
): Promise<RotateKeyResult> {
  const session = await txn.startSession();
  try {
    return await runBoundedTransaction<RotateKeyResult>(
      session,
      () => rotateWork(coll, args, maxTimeMS, session as unknown as ClientSession),
      {
        budgetMs: txn.budgetMs - (performance.now() - startedAt),
        wtimeoutMS: txn.wtimeoutMS,
        maxCommitTimeMS: maxTimeMS,
        retryable: (err) => isSlotTaken(err) || isGraceSlotTaken(err),
      },
    );
  } finally {
    await session.endSession().catch(() => undefined);
  }
}

/**
 * The rotation's reads and writes inside a transaction on `session`: its own (rotateInTransaction),
 * or an ambient unit of work's (mongo-unit-of-work.ts), which it joins instead of starting one.
 * `joined`: every "no" is decided before the first write of the key (only expired grace slots may
 * have been released), so a unit that goes on to commit never stores half a rotation. Errors (a slot
 * taken: E11000, a write conflict) reach the transaction's runner, which runs it all again.
 */
export async function rotateWork(
  coll: Collection<KeyDoc>,
  args: RotateArgs,
  maxTimeMS: number,
  session: ClientSession,
  joined = false,
): Promise<TransactionOutcome<RotateKeyResult>> {
  const { tenantId, keyId, successor, revokeAt, maxActive } = args;
  const opts = { maxTimeMS, session };
  const abort = (value: RotateKeyResult) => ({ commit: false, value });
  const current = await coll.findOne({ _id: keyId, tenantId }, opts);
  if (!current) return abort({ ok: false, reason: "not_found" });
  if (current.status !== "active") return abort({ ok: false, reason: "not_active" });
  if (current.suspendedAt !== undefined) return abort({ ok: false, reason: "suspended" });

  const graceSlot = (await graceSlotsFor(coll, args, maxTimeMS, session)).free[0];
  if (graceSlot === undefined) return abort({ ok: false, reason: "deprecated_limit" });

  // Joined to a unit that commits whatever this answers: an ACTIVE key without a slot (written by
  // something else) must find a free one for its successor before the first write of the key.
  if (joined && typeof current.slot !== "number") {
    const used = await usedSlots(coll, tenantId, maxTimeMS, session);
    if (slotOrder(maxActive).every((s) => used.has(s))) return abort({ ok: false, reason: "limit" });
  }
  const before = await coll.findOneAndUpdate(
    // Not a suspended key: a racing SuspendKey's write and this one never both apply.
    { _id: keyId, tenantId, status: "active", suspendedAt: { $exists: false } },
    deprecateUpdate(revokeAt, successor.id, graceSlot),
    { ...opts, returnDocument: "before" },
  );
  if (!before) return abort({ ok: false, reason: "not_active" });
  // The successor takes the freed slot whatever its number (the active count is unchanged);
  // an ACTIVE key without a slot (written by something else) gets a free one, if any.
  let slot = before.slot;
  if (typeof slot !== "number") {
    const used = await usedSlots(coll, tenantId, maxTimeMS, session);
    slot = slotOrder(maxActive).find((s) => !used.has(s));
    if (slot === undefined) {
      // Checked free above in the same snapshot; a unit must not commit half a rotation.
      if (joined) throw new Error("RotateKey: the free slot checked in this transaction is gone");
      return abort({ ok: false, reason: "limit" });
    }
  }
  const doc: KeyDoc = {
    ...toKeyDoc({ ...successor, status: "active", rotatedFromKeyId: keyId }),
    status: "active",
    slot,
  };
  // No catch here: any error must reach the runner (it aborts, and retries transient ones).
  await coll.insertOne(doc, opts);
  const { slot: _s, graceSlot: _g, ...rest } = before;
  return {
    commit: true,
    value: {
      ok: true,
      previous: fromKeyDoc({ ...rest, status: "deprecated", revokeAt, rotatedToKeyId: successor.id }),
      key: fromKeyDoc(doc),
    },
  };
}
