// The webhook endpoints and the outbox in MongoDB (collections webhook_endpoints, webhook_outbox;
// indexes in mongo-indexes.ts). The per-tenant endpoint limit is a unique {tenantId, slot} index
// (as for keys): an insert takes the lowest free slot, and of two concurrent inserts into one slot
// the unique index refuses the second (E11000), which then tries the next free one. A claim is one
// conditional updateOne on the endpoint document (the claim lapsed, or is ours). Messages are
// inserted with ordered: false, so one already stored (E11000 on _id) does not stop the rest.
import type { Collection, Db, IndexDescription } from "mongodb";
import type { OutboxMessage, WebhookEndpointRecord } from "../../domain/webhook-records.js";
import { COLLECTIONS, fromKeyDoc, type KeyDoc } from "./mongo-documents.js";
import type { WebhookStore } from "../../ports/webhook-store.js";
import { isDuplicateKey } from "./mongo-errors.js";
import { ambientSession } from "./mongo-unit-of-work.js";
import { isDedupedMessageId } from "../../domain/webhook-outbox.js";

export const WEBHOOK_COLLECTIONS = { endpoints: "webhook_endpoints", outbox: "webhook_outbox" } as const;

export const WEBHOOK_INDEX = {
  endpointSlot: "webhook_endpoints_tenant_slot_unique",
  outboxDue: "webhook_outbox_state_next_attempt",
  outboxOrder: "webhook_outbox_endpoint_state_created",
  outboxDoneTtl: "webhook_outbox_done_ttl",
} as const;

export const WEBHOOK_ENDPOINT_INDEXES: IndexDescription[] = [
  // The per-tenant limit, and listEndpoints ({tenantId} prefix).
  { name: WEBHOOK_INDEX.endpointSlot, key: { tenantId: 1, slot: 1 }, unique: true },
];
/**
 * The key.expiring schedule: keys with an expiry, soonest first. Partial (only keys that have an
 * expiry), so keys without one cost nothing. If issue 22's branch builds its own index on
 * {expiresAt} for the expiry sweep, one of the two can go (the lead merges them).
 */
export const WEBHOOK_OUTBOX_INDEXES: IndexDescription[] = [
  // The sender's poll: pending messages due now.
  { name: WEBHOOK_INDEX.outboxDue, key: { state: 1, nextAttemptAt: 1 } },
  // One endpoint's pending messages in order, and its backlog count.
  { name: WEBHOOK_INDEX.outboxOrder, key: { endpointId: 1, state: 1, createdAt: 1, _id: 1 } },
  // Delivered or failed messages are kept 7 days (for an operator's look), then deleted by the TTL monitor.
  { name: WEBHOOK_INDEX.outboxDoneTtl, key: { doneAt: 1 }, expireAfterSeconds: 7 * 86_400 },
];

type EndpointDoc = Omit<WebhookEndpointRecord, "id"> & {
  _id: string;
  slot: number;
  claimHolder?: string;
  claimUntil?: Date;
};
type MessageDoc = Omit<OutboxMessage, "id"> & { _id: string };

const fromEndpointDoc = ({
  _id,
  slot: _s,
  claimHolder: _h,
  claimUntil: _u,
  ...rest
}: EndpointDoc): WebhookEndpointRecord => {
  const e: WebhookEndpointRecord = { id: _id, ...rest };
  for (const k of Object.keys(e) as (keyof WebhookEndpointRecord)[])
    if (e[k] === undefined || e[k] === null) delete e[k];
  return e;
};
const fromMessageDoc = ({ _id, ...rest }: MessageDoc): OutboxMessage => {
  const m: OutboxMessage = { id: _id, ...rest };
  for (const k of Object.keys(m) as (keyof OutboxMessage)[]) if (m[k] === undefined || m[k] === null) delete m[k];
  return m;
};

/** Inserts messages unordered: one already stored (E11000 on _id) is skipped; answers how many were new. */
async function insertMessages(
  coll: Collection<MessageDoc>,
  batch: readonly OutboxMessage[],
  maxTimeMS: number,
): Promise<number> {
  if (batch.length === 0) return 0;
  let docs: MessageDoc[] = batch.map(({ id, ...rest }) => ({ _id: id, ...rest }));
  const ids = docs.map((d) => d._id).filter(isDedupedMessageId);
  if (ids.length > 0 && ambientSession()) {
    // In a unit of work's transaction an E11000 ends the transaction on the server: messages
    // already stored (ids derived from a dedupe key; random ones never collide) are looked up first
    // and left out.
    const have = new Set(
      (await coll.find({ _id: { $in: ids } }, { projection: { _id: 1 }, maxTimeMS }).toArray()).map((d) => d._id),
    );
    docs = docs.filter((d) => !have.has(d._id));
    if (docs.length === 0) return 0;
  }
  try {
    const r = await coll.insertMany(docs, { ordered: false, maxTimeMS });
    return r.insertedCount;
  } catch (err) {
    if (!isDuplicateKey(err) && (err as { code?: unknown }).code !== 11000) throw err;
    const inserted = (err as { result?: { insertedCount?: number } }).result?.insertedCount;
    const writeErrors = (err as { writeErrors?: unknown[] }).writeErrors;
    const dupOnly = Array.isArray(writeErrors)
      ? writeErrors.every((w) => (w as { code?: unknown }).code === 11000)
      : true;
    if (!dupOnly) throw err;
    return inserted ?? 0;
  }
}

export function createMongoWebhookStore(
  db: () => Promise<Db>,
  maxTimeMS: number,
  run: <T>(operation: string, fn: () => Promise<T>) => Promise<T>,
): WebhookStore {
  const endpoints = async (): Promise<Collection<EndpointDoc>> =>
    (await db()).collection<EndpointDoc>(WEBHOOK_COLLECTIONS.endpoints);
  const outbox = async (): Promise<Collection<MessageDoc>> =>
    (await db()).collection<MessageDoc>(WEBHOOK_COLLECTIONS.outbox);
  const strip = (e: EndpointDoc) => fromEndpointDoc(e);

  return {
    insertEndpoint: (endpoint, maxPerTenant) =>
      run("insertEndpoint", async () => {
        const coll = await endpoints();
        const { id, ...rest } = endpoint;
        for (let attempt = 0; attempt < maxPerTenant + 1; attempt++) {
          const used = new Set(
            (await coll.find({ tenantId: endpoint.tenantId }, { projection: { slot: 1 }, maxTimeMS }).toArray()).map(
              (d) => d.slot,
            ),
          );
          let slot = 0;
          while (used.has(slot)) slot++;
          if (slot >= maxPerTenant) return { ok: false, reason: "limit" } as const;
          try {
            await coll.insertOne({ _id: id, slot, ...rest }, { maxTimeMS });
            return { ok: true } as const;
          } catch (err) {
            if (!isDuplicateKey(err)) throw err; // a concurrent insert took the slot: look again
          }
        }
        return { ok: false, reason: "limit" } as const;
      }),
    listEndpoints: (tenantId) =>
      run("listEndpoints", async () => {
        const docs = await (await endpoints()).find({ tenantId }, { maxTimeMS }).toArray();
        return docs.map(strip).sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || (a.id < b.id ? -1 : 1));
      }),
    getEndpoint: (endpointId) =>
      run("getEndpoint", async () => {
        const doc = await (await endpoints()).findOne({ _id: endpointId }, { maxTimeMS });
        return doc ? strip(doc) : null;
      }),
    deleteEndpoint: (tenantId, endpointId) =>
      run("deleteEndpoint", async () => {
        const r = await (await endpoints()).deleteOne({ _id: endpointId, tenantId }, { maxTimeMS });
        if (r.deletedCount === 0) return false;
        await (await outbox()).deleteMany({ endpointId }, { maxTimeMS });
        return true;
      }),
    setSecrets: (tenantId, endpointId, secrets, expectedCurrent) =>
      run("setSecrets", async () => {
        const doc = await (await endpoints()).findOneAndUpdate(
          expectedCurrent === undefined
            ? { _id: endpointId, tenantId }
            : { _id: endpointId, tenantId, "secrets.0.secret": expectedCurrent },
          { $set: { secrets } },
          { returnDocument: "after", maxTimeMS },
        );
        return doc ? strip(doc) : null;
      }),
    recordFailure: (endpointId, at, failure) =>
      run("recordFailure", async () => {
        const coll = await endpoints();
        await coll.updateOne({ _id: endpointId }, { $set: { lastFailureAt: at, lastFailure: failure } }, { maxTimeMS });
        await coll.updateOne(
          { _id: endpointId, failingSince: { $exists: false } },
          { $set: { failingSince: at } },
          { maxTimeMS },
        );
      }),
    recordSuccess: (endpointId) =>
      run("recordSuccess", async () => {
        await (await endpoints()).updateOne({ _id: endpointId }, { $unset: { failingSince: "" } }, { maxTimeMS });
      }),
    disableEndpoint: (endpointId, at) =>
      run("disableEndpoint", async () => {
        const r = await (await endpoints()).updateOne(
          { _id: endpointId, disabledAt: { $exists: false } },
          { $set: { disabledAt: at } },
          { maxTimeMS },
        );
        // Already disabled (or gone): a message stored for it since (an enqueue racing the disable)
        // is dropped all the same; only the first disable answers true.
        await (await outbox()).updateMany(
          { endpointId, state: "pending" },
          { $set: { state: "failed", doneAt: at } },
          { maxTimeMS },
        );
        return r.modifiedCount > 0;
      }),

    enqueue: (batch, maxPendingPerEndpoint) =>
      run("enqueue", async () => {
        const coll = await outbox();
        const full: string[] = [];
        let accepted = batch;
        if (maxPendingPerEndpoint !== undefined && batch.length > 0) {
          // Each endpoint's backlog, counted on the {endpointId, state, ...} index and at most up to
          // the cap (limit): a full endpoint costs `maxPendingPerEndpoint` index keys, not its backlog.
          const room = new Map<string, number>();
          for (const endpointId of new Set(batch.map((m) => m.endpointId))) {
            const n = await coll.countDocuments(
              { endpointId, state: "pending" },
              { limit: maxPendingPerEndpoint, maxTimeMS },
            );
            room.set(endpointId, maxPendingPerEndpoint - n);
            if (n >= maxPendingPerEndpoint) full.push(endpointId);
          }
          accepted = batch.filter((m) => {
            const left = room.get(m.endpointId)!;
            room.set(m.endpointId, left - 1);
            return left > 0;
          });
        }
        return { added: await insertMessages(coll, accepted, maxTimeMS), full };
      }),
    dueEndpoints: (now, limit) =>
      run("dueEndpoints", async () => {
        const rows = await (await outbox())
          .aggregate<{ _id: string }>(
            [
              { $match: { state: "pending", nextAttemptAt: { $lte: now } } },
              { $group: { _id: "$endpointId" } },
              // A random choice when more are due than asked for (the port's fairness rule): with
              // `$limit` the same endpoints (say, a few tenants' slow receivers) took every place.
              { $sample: { size: limit } },
            ],
            { maxTimeMS },
          )
          .toArray();
        return rows.map((r) => r._id);
      }),
    claimEndpoint: ({ endpointId, holder, now, until }) =>
      run("claimEndpoint", async () => {
        const r = await (await endpoints()).updateOne(
          {
            _id: endpointId,
            $or: [{ claimUntil: { $exists: false } }, { claimUntil: { $lte: now } }, { claimHolder: holder }],
          },
          { $set: { claimHolder: holder, claimUntil: until } },
          { maxTimeMS },
        );
        return r.matchedCount === 1;
      }),
    releaseEndpoint: (endpointId, holder) =>
      run("releaseEndpoint", async () => {
        await (await endpoints()).updateOne(
          { _id: endpointId, claimHolder: holder },
          { $unset: { claimHolder: "", claimUntil: "" } },
          { maxTimeMS },
        );
      }),
    pendingMessages: (endpointId, limit) =>
      run("pendingMessages", async () => {
        if (limit <= 0) return [];
        const docs = await (await outbox())
          .find({ endpointId, state: "pending" }, { sort: { createdAt: 1, _id: 1 }, limit, maxTimeMS })
          .toArray();
        return docs.map(fromMessageDoc);
      }),
    markDelivered: (messageId, at) =>
      run("markDelivered", async () => {
        await (await outbox()).updateOne(
          { _id: messageId, state: "pending" },
          { $set: { state: "delivered", doneAt: at } },
          { maxTimeMS },
        );
      }),
    markAttemptFailed: (messageId, { nextAttemptAt, error }) =>
      run("markAttemptFailed", async () => {
        await (await outbox()).updateOne(
          { _id: messageId, state: "pending" },
          { $inc: { attempts: 1 }, $set: { nextAttemptAt, lastError: error } },
          { maxTimeMS },
        );
      }),
    countPending: (endpointId) =>
      run("countPending", async () =>
        (await outbox()).countDocuments(
          endpointId === undefined ? { state: "pending" } : { endpointId, state: "pending" },
          { maxTimeMS },
        ),
      ),
    // Keys with an expiry (KeyRecord.expiresAt, issue 22) ending in (from, to]. The index:
    // keys_status_expires_at (mongo-indexes.ts), the expiry sweep's.
    findKeysExpiringBetween: (from, to, limit) =>
      run("findKeysExpiringBetween", async () => {
        if (limit <= 0) return [];
        const docs = await (await db())
          .collection<KeyDoc>(COLLECTIONS.keys)
          .find({ status: { $in: ["active", "deprecated"] }, expiresAt: { $gt: from, $lte: to } } as never, {
            sort: { expiresAt: 1 },
            limit,
            maxTimeMS,
          })
          .toArray();
        return docs.map(fromKeyDoc);
      }),
  };
}
