import type { Collection, Filter } from "mongodb";
import { auditIdFloor } from "../../domain/audit.js";
import type { AuditStore } from "../../ports/audit-store.js";
import { type AuditDoc, fromAuditDoc, toAuditDoc } from "./mongo-documents.js";
import { isDuplicateKeyOn } from "./mongo-errors.js";
import { INDEX } from "./mongo-indexes.js";
import { ambientSession } from "./mongo-unit-of-work.js";

/**
 * The `audit_events` collection. `_id` is the event id, which is time-ordered, so "newest first"
 * is `_id` descending and since/until are `_id` bounds: every query is one range of one index
 * ({tenantId, _id} or {tenantId, action, _id}), already in order. Append only: the one update is a
 * pending event's completion, conditional on it still being pending. `dedupeKey` (service actions)
 * has a partial unique index: of several replicas recording the same grace expiry, one insert wins.
 */
export function createMongoAuditEvents(
  coll: () => Promise<Collection<AuditDoc>>,
  maxTimeMS: number,
  run: <T>(operation: string, fn: () => Promise<T>) => Promise<T>,
): AuditStore {
  return {
    appendAuditEvent: (event) =>
      run("appendAuditEvent", async () => {
        const c = await coll();
        // Inside a unit of work's transaction an E11000 ends the transaction on the server (nothing
        // after it could commit): a duplicate is looked up first. An insert racing this one is a
        // write conflict there, and the unit runs again.
        if (
          event.dedupeKey !== undefined &&
          ambientSession() &&
          (await c.findOne({ dedupeKey: event.dedupeKey }, { projection: { _id: 1 }, maxTimeMS }))
        )
          return false;
        try {
          await c.insertOne(toAuditDoc(event), { maxTimeMS });
          return true;
        } catch (err) {
          if (event.dedupeKey !== undefined && isDuplicateKeyOn(err, INDEX.auditDedupe, "dedupeKey")) return false;
          throw err;
        }
      }),

    completeAuditEvent: (id, c) =>
      run("completeAuditEvent", async () => {
        const set: Record<string, unknown> = { outcome: c.outcome, code: c.code };
        if (c.keyId !== undefined) set.keyId = c.keyId;
        if (c.sessionId !== undefined) set.sessionId = c.sessionId;
        if (c.detail !== undefined) set.detail = c.detail;
        await (await coll()).updateOne({ _id: id, outcome: "pending" }, { $set: set }, { maxTimeMS });
      }),

    listAuditEvents: (q) =>
      run("listAuditEvents", async () => {
        if (q.limit <= 0) return []; // limit 0 would mean "no limit" to MongoDB
        const id: Record<string, string> = {};
        if (q.since !== undefined) id.$gte = auditIdFloor(q.since);
        const upper = [q.beforeId, q.until && auditIdFloor(q.until)].filter((v): v is string => v !== undefined);
        if (upper.length > 0) id.$lt = upper.sort()[0]!;
        const filter: Filter<AuditDoc> = { tenantId: q.tenantId };
        if (q.action !== undefined) filter.action = q.action;
        if (Object.keys(id).length > 0) filter._id = id;
        const docs = await (await coll()).find(filter, { sort: { _id: -1 }, limit: q.limit, maxTimeMS }).toArray();
        return docs.map(fromAuditDoc);
      }),
  };
}
