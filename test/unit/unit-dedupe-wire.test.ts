import { createHash } from "node:crypto";
import { BSON, type Document } from "mongodb";
import { describe, expect, it } from "vitest";
import { COLLECTIONS } from "../../src/adapters/mongo/mongo-documents.js";
import { INDEX } from "../../src/adapters/mongo/mongo-indexes.js";
import { createMongoStore } from "../../src/adapters/mongo/mongo-token-store.js";
import { WEBHOOK_COLLECTIONS } from "../../src/adapters/mongo/mongo-webhook-store.js";
import { createAuditTrail } from "../../src/domain/audit-trail.js";
import { ADMIN_TENANT_ID } from "../../src/domain/tenant-id.js";
import { withWebhookEvents } from "../../src/domain/webhook-audit-trail.js";
import { createEnqueue } from "../../src/domain/webhook-outbox.js";
import { createManualClock } from "../support/manual-clock.js";
import { waitUntilServing } from "../support/mongo.js";
import { useMongoWireStub } from "../support/mongo-wire-fixture.js";
import type { WireCommand } from "../support/mongo-wire-stub.js";
import { ROTATED_KEY } from "../support/rotation-keys.js";

/**
 * Issue 24 review: a deduplicated write inside a unit of work (CreateKey at its tenant's limit
 * expires the tenant's keys past expiry at once: recordOnce of `key.expired`, whose audit event and
 * outbox messages have ids derived from the key). On MongoDB an E11000 inside a transaction ends the
 * transaction on the server: catching it (the event was already stored by a sweep) leaves the unit
 * running on an aborted transaction, its next command answers NoSuchTransaction (251, a transient
 * label), the unit runs again, meets the same duplicate, and the call ends UNAVAILABLE. The stub
 * answers as a replica-set primary does: after a write error in a transaction, every later command
 * of that transaction is NoSuchTransaction.
 */
const stub = useMongoWireStub({ replicaSet: true });
const clock = createManualClock(new Date("2030-01-01T00:00:00Z"));
const dedupeKey = `key.expired:${ROTATED_KEY.id}`;
const endpointId = "wh_0000000000000000000001";
const endpointDoc = {
  _id: endpointId,
  tenantId: ROTATED_KEY.tenantId,
  url: "https://hooks.example.com/warpflow",
  events: [],
  secrets: [{ secret: "whsec_AAAA", createdAt: new Date("2029-12-01T00:00:00Z") }],
  createdAt: new Date("2029-12-01T00:00:00Z"),
  createdBy: "test",
  slot: 0,
};
// Stored by a sweep before: the audit event and its message (ids as webhook-outbox.ts derives them).
const messageId = `msg_${createHash("sha256").update(`${dedupeKey}\n${endpointId}`).digest("base64url").slice(0, 32)}`;
const auditDoc = { _id: "evt_existing", dedupeKey, action: "key.expired", tenantId: ROTATED_KEY.tenantId };

const cursor = (coll: string, firstBatch: Document[]) => ({
  cursor: { id: BSON.Long.ZERO, ns: `wf.${coll}`, firstBatch },
  ok: 1,
});
const dup = (coll: string, index: string) => ({
  n: 0,
  writeErrors: [
    { index: 0, code: 11000, errmsg: `E11000 duplicate key error collection: wf.${coll} index: ${index} dup key` },
  ],
  ok: 1,
});

function primary() {
  const aborted = new Set<string>();
  const inserts: string[] = [];
  const txnOf = (c: WireCommand) =>
    c.doc.autocommit === false
      ? `${(c.doc.lsid?.id as BSON.Binary).toString("hex")}:${Number(c.doc.txnNumber)}`
      : undefined;
  const handle = (cmd: WireCommand): Document | undefined => {
    const txn = txnOf(cmd);
    if (txn !== undefined && aborted.has(txn))
      return {
        ok: 0,
        code: 251,
        codeName: "NoSuchTransaction",
        errmsg: "Transaction has been aborted",
        errorLabels: ["TransientTransactionError"],
      };
    const coll = cmd.doc[cmd.name] as string;
    if (cmd.name === "find" && coll === WEBHOOK_COLLECTIONS.endpoints)
      return cursor(coll, cmd.doc.filter?.tenantId === ADMIN_TENANT_ID ? [] : [endpointDoc]);
    if (cmd.name === "find" && coll === COLLECTIONS.audit)
      return cursor(coll, cmd.doc.filter?.dedupeKey === dedupeKey ? [{ _id: auditDoc._id }] : []);
    if (cmd.name === "find" && coll === WEBHOOK_COLLECTIONS.outbox) {
      const ids = (cmd.doc.filter?._id?.$in ?? []) as string[];
      return cursor(coll, ids.includes(messageId) ? [{ _id: messageId }] : []);
    }
    if (cmd.name === "insert") {
      const docs = cmd.doc.documents as Document[];
      inserts.push(coll);
      const collides =
        (coll === COLLECTIONS.audit && docs.some((d) => d.dedupeKey === dedupeKey)) ||
        (coll === WEBHOOK_COLLECTIONS.outbox && docs.some((d) => d._id === messageId));
      if (collides) {
        if (txn !== undefined) aborted.add(txn);
        return dup(coll, coll === COLLECTIONS.audit ? INDEX.auditDedupe : "_id_");
      }
      return { n: docs.length, ok: 1 };
    }
    if (cmd.name === "update") return { n: 1, nModified: 1, ok: 1 };
    return undefined;
  };
  return { handle, inserts };
}

describe("a deduplicated event recorded inside a unit of work (replica set)", () => {
  it("finds the event and the message already stored without a colliding insert, and the unit commits at once", async () => {
    const opened = createMongoStore({ uri: stub.uri, dbName: "wf", retry: { initialMs: 10, maxMs: 20 } });
    stub.closeAfter(opened.store);
    await waitUntilServing(opened.store, 5000);
    const errors: unknown[] = [];
    const audit = withWebhookEvents(
      createAuditTrail({ store: opened.store, clock, unit: opened.unit, retryDelaysMs: [] }),
      createEnqueue(opened.webhooks, () => clock.now()),
      (err) => errors.push(err),
      () => clock.now(),
    );
    const p = primary();
    stub.handle = p.handle;
    const from = stub.commands.length;
    const stored = await opened.unit.run(() =>
      audit.recordOnce(
        {
          action: "key.expired",
          actor: { kind: "service", id: "expiry-sweep", tenantId: ADMIN_TENANT_ID },
          tenantId: ROTATED_KEY.tenantId,
          keyId: ROTATED_KEY.id,
          detail: "expired",
          dedupeKey,
        },
        { outcome: "ok", code: "OK" },
      ),
    );
    expect(stored).toBe(false);
    expect(errors).toEqual([]);
    const cmds = stub.commands.slice(from);
    expect(cmds.filter((c) => c.name === "commitTransaction")).toHaveLength(1);
    expect(cmds.filter((c) => c.name === "abortTransaction")).toHaveLength(0);
    expect(p.inserts).toEqual([]); // both already stored: nothing inserted, nothing collided
  });
});
