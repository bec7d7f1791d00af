// Slot bookkeeping of the key limits (used by mongo-key-slots.ts and mongo-rotate-transaction.ts).
//
// The deprecated-keys limit (at most maxDeprecated DEPRECATED keys of a tenant in their grace),
// race-free the same way as the active limit: a DEPRECATED key made by a rotation holds a grace
// slot g in 0..maxDeprecated-1, and the partial unique index {tenantId, graceSlot} over
// DEPRECATED documents admits one per (tenant, g). The server checks it inside the single-document
// write that deprecates the key, whatever the number of concurrent rotations on whatever replicas.
//
// A key whose grace ended (revokeAt <= the server's now) no longer counts, swept or not: when every
// slot is held, the rotation first releases the grace slots of the tenant's expired DEPRECATED keys.
import type { ClientSession, Collection } from "mongodb";
import type { TokenStore } from "../../ports/token-store.js";
import type { KeyDoc } from "./mongo-documents.js";
import { isDuplicateKeyOn } from "./mongo-errors.js";
import { INDEX } from "./mongo-indexes.js";

export const isGraceSlotTaken = (err: unknown) => isDuplicateKeyOn(err, INDEX.keyGraceSlot, "graceSlot");

interface GraceHolder {
  graceSlot: number;
}

/** The grace slots held now (a hint; the index decides). */
async function graceHolders(
  coll: Collection<KeyDoc>,
  tenantId: string,
  maxTimeMS: number,
  session?: ClientSession,
): Promise<GraceHolder[]> {
  const docs = await coll
    .find(
      { tenantId, status: "deprecated", graceSlot: { $exists: true } },
      { projection: { _id: 0, graceSlot: 1 }, maxTimeMS, ...(session ? { session } : {}) },
    )
    .toArray();
  return docs.filter((d): d is KeyDoc & GraceHolder => typeof d.graceSlot === "number");
}

/**
 * Releases the grace slots of the tenant's DEPRECATED keys whose grace ended by the SERVER's clock
 * (`revokeAt <= $$NOW`), never the calling replica's: a replica whose clock runs ahead must not free
 * the slot of a key still in its grace. They stay DEPRECATED (every read already treats them as
 * revoked) until the sweep stores them as REVOKED with their `key.grace_expired` audit event: only
 * their place in the limit is given back. `$$NOW` is one value for the whole operation (4.2+).
 * https://www.mongodb.com/docs/manual/reference/aggregation-variables/#mongodb-variable-variable.NOW
 */
export const RECLAIM_FILTER = (tenantId: string) => ({
  tenantId,
  status: "deprecated" as const,
  graceSlot: { $exists: true },
  revokeAt: { $type: "date" as const }, // in $expr a missing revokeAt would compare below any date
  $expr: { $lte: ["$revokeAt", "$$NOW"] },
});

async function reclaimExpiredGrace(
  coll: Collection<KeyDoc>,
  tenantId: string,
  maxTimeMS: number,
  session?: ClientSession,
): Promise<number> {
  const r = await coll.updateMany(
    RECLAIM_FILTER(tenantId),
    { $unset: { graceSlot: "" } },
    { maxTimeMS, ...(session ? { session } : {}) },
  );
  return r.modifiedCount;
}

/** The grace slots to try, free ones first (held ones may have been released since the read). */
function graceSlotOrder(maxDeprecated: number, held: readonly GraceHolder[]): { free: number[]; all: number[] } {
  const used = new Set(held.map((h) => h.graceSlot));
  const range = Array.from({ length: Math.max(0, maxDeprecated) }, (_, i) => i);
  const free = range.filter((g) => !used.has(g));
  return { free, all: [...free, ...range.filter((g) => used.has(g))] };
}

/**
 * The grace slots a rotation may try (free ones first). When every slot is held, the slots of
 * holders whose grace ended by the server's clock are released first (reclaimExpiredGrace) and the
 * holders read again. No free slot: every slot was held by a key in its grace at the instant of the
 * read. (`args.now`, the caller's clock, decides nothing here: the index and the server do.)
 */
export async function graceSlotsFor(
  coll: Collection<KeyDoc>,
  args: { tenantId: string; maxDeprecated: number; now: Date },
  maxTimeMS: number,
  session?: ClientSession,
): Promise<{ free: number[]; all: number[] }> {
  const { tenantId, maxDeprecated } = args;
  let held = await graceHolders(coll, tenantId, maxTimeMS, session);
  if (graceSlotOrder(maxDeprecated, held).free.length === 0 && held.length > 0) {
    if ((await reclaimExpiredGrace(coll, tenantId, maxTimeMS, session)) > 0)
      held = await graceHolders(coll, tenantId, maxTimeMS, session);
  }
  return graceSlotOrder(maxDeprecated, held);
}

export type RotateArgs = Parameters<TokenStore["rotateKey"]>[0];

export const isSlotTaken = (err: unknown) => isDuplicateKeyOn(err, INDEX.keyActiveSlot, "slot");

/**
 * 0..maxActive-1, with `first` (a freed slot) first: even beyond a since-lowered maxActive, as
 * giving a key its own freed slot back never raises the active count.
 */
export function slotOrder(maxActive: number, first?: number): number[] {
  const all = Array.from({ length: Math.max(0, maxActive) }, (_, i) => i);
  return first === undefined ? all : [first, ...all.filter((s) => s !== first)];
}

/**
 * The slots held by the tenant's ACTIVE keys now: a hint only, the index decides. The filter
 * includes the partial index's own filter, so the planner can answer it from that index alone.
 */
export async function usedSlots(
  coll: Collection<KeyDoc>,
  tenantId: string,
  maxTimeMS: number,
  session?: ClientSession,
): Promise<Set<number>> {
  const docs = await coll
    .find(
      { tenantId, status: "active" },
      { projection: { _id: 0, slot: 1 }, maxTimeMS, ...(session ? { session } : {}) },
    )
    .toArray();
  return new Set(docs.map((d) => d.slot).filter((s): s is number => typeof s === "number"));
}

/** The old key's update of a rotation: ACTIVE -> DEPRECATED into grace slot `graceSlot`. */
export const deprecateUpdate = (revokeAt: Date, successorId: string, graceSlot: number) => ({
  $set: { status: "deprecated" as const, revokeAt, rotatedToKeyId: successorId, graceSlot },
  $unset: { slot: "" as const },
});
