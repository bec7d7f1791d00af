import { BSON, type Document } from "mongodb";
import { describe, expect, it } from "vitest";
import { COLLECTIONS, toKeyDoc } from "../../src/adapters/mongo/mongo-documents.js";
import { createMongoStore } from "../../src/adapters/mongo/mongo-token-store.js";
import { WEBHOOK_COLLECTIONS } from "../../src/adapters/mongo/mongo-webhook-store.js";
import type { AuditEvent } from "../../src/domain/audit.js";
import { createAuditTrail } from "../../src/domain/audit-trail.js";
import { DomainError } from "../../src/domain/errors.js";
import { withWebhookEvents } from "../../src/domain/webhook-audit-trail.js";
import { createEnqueue } from "../../src/domain/webhook-outbox.js";
import { createAuditedCall } from "../../src/service/audited-call.js";
import type { CallContext } from "../../src/transport/protocol/unary-handlers.js";
import { createManualClock } from "../support/manual-clock.js";
import { waitUntilServing } from "../support/mongo.js";
import { useMongoWireStub } from "../support/mongo-wire-fixture.js";
import type { WireCommand } from "../support/mongo-wire-stub.js";
import { ROTATED_KEY } from "../support/rotation-keys.js";
import { generateToken } from "../../src/domain/token-format.js";
import { createExposureService } from "../../src/domain/exposure-service.js";
import { createTokenCache } from "../../src/domain/token-cache.js";

/**
 * Issue 24, the gap between an admin change and its webhook event: on a replica set the change, its
 * audit events and its outbox messages are one transaction (src/adapters/mongo/mongo-unit-of-work.ts).
 * The real driver against the wire stub, through the real audited call, audit trail, webhook trail
 * and outbox: every write of the call carries the same lsid and txnNumber, and a failure before the
 * commit sends abortTransaction and no commit.
 */
const stub = useMongoWireStub({ replicaSet: true });
const clock = createManualClock(new Date("2030-01-01T00:00:00Z"));
const ctx: CallContext = { bearer: "x", peer: "10.0.0.1:5000", userAgent: "test", protocol: "grpc" };

const endpointDoc = {
  _id: "wh_0000000000000000000001",
  tenantId: ROTATED_KEY.tenantId,
  url: "https://hooks.example.com/warpflow",
  events: [],
  secrets: [{ secret: "whsec_AAAA", createdAt: new Date("2029-12-01T00:00:00Z") }],
  createdAt: new Date("2029-12-01T00:00:00Z"),
  createdBy: "test",
  slot: 0,
};
const revokedDoc = { ...toKeyDoc(ROTATED_KEY), status: "revoked", revokedAt: clock.now() };

const on = (name: string, coll: string) => (c: WireCommand) => c.name === name && c.doc[name] === coll;
const cursor = (ns: string, firstBatch: Document[]) => ({ cursor: { id: BSON.Long.ZERO, ns, firstBatch }, ok: 1 });

/** Answers as a replica-set primary holding one endpoint (every tenant's events) and the key. */
function answer(cmd: WireCommand): Document | undefined {
  if (on("find", WEBHOOK_COLLECTIONS.endpoints)(cmd))
    return cursor(`wf.${WEBHOOK_COLLECTIONS.endpoints}`, cmd.doc.filter?.tenantId === "admin" ? [] : [endpointDoc]);
  if (on("aggregate", WEBHOOK_COLLECTIONS.outbox)(cmd)) return cursor(`wf.${WEBHOOK_COLLECTIONS.outbox}`, []);
  if (on("findAndModify", COLLECTIONS.keys)(cmd))
    return { lastErrorObject: { n: 1, updatedExisting: true }, value: revokedDoc, ok: 1 };
  if (cmd.name === "insert" || cmd.name === "update") {
    const n = (cmd.doc.documents ?? cmd.doc.updates ?? []).length;
    return { n, ...(cmd.name === "update" ? { nModified: n } : {}), ok: 1 };
  }
  return undefined;
}

async function open() {
  const opened = createMongoStore({ uri: stub.uri, dbName: "wf", retry: { initialMs: 10, maxMs: 20 } });
  stub.closeAfter(opened.store);
  await waitUntilServing(opened.store, 5000);
  const lines: { event: AuditEvent; stored: boolean }[] = [];
  const outboxFailures: unknown[] = [];
  const audit = withWebhookEvents(
    createAuditTrail({
      store: opened.store,
      clock,
      sink: (event, stored) => lines.push({ event, stored }),
      unit: opened.unit,
      retryDelaysMs: [],
    }),
    createEnqueue(opened.webhooks, () => clock.now()),
    (err) => outboxFailures.push(err),
    () => clock.now(),
  );
  const call = createAuditedCall(audit);
  const revoke = () =>
    call("key.revoke", ctx, { tenantId: ROTATED_KEY.tenantId, keyId: ROTATED_KEY.id }, async (scope) => {
      scope.principal({ kind: "admin_key", keyId: "key_admin0000000000000", tenantId: "admin" } as never);
      await scope.begin();
      const r = await opened.store.revokeKey({
        tenantId: ROTATED_KEY.tenantId,
        keyId: ROTATED_KEY.id,
        revokedAt: clock.now(),
      });
      if (!r) throw new DomainError("not_found", "no such key");
      return r;
    });
  return { ...opened, lines, outboxFailures, revoke, audit };
}

/** The commands of the call (after the store's start-up), without handshakes and heartbeats. */
const sent = (from: number) =>
  stub.commands.slice(from).filter((c) => !["hello", "isMaster", "ismaster", "endSessions"].includes(c.name));
const txnOf = (c: WireCommand) => ({
  lsid: (c.doc.lsid?.id as BSON.Binary | undefined)?.toString("hex"),
  txnNumber: c.doc.txnNumber === undefined ? undefined : Number(c.doc.txnNumber),
});

describe("an admin change, its audit event and its outbox message: one transaction on a replica set", () => {
  it("the change (findAndModify on keys), the audit insert and completion and the outbox insert carry one lsid and txnNumber, then one commit", async () => {
    const s = await open();
    stub.handle = answer;
    const from = stub.commands.length;
    await s.revoke();
    const cmds = sent(from);
    const writes = cmds.filter((c) => ["insert", "update", "findAndModify"].includes(c.name));
    expect(writes.map((c) => `${c.name}:${c.doc[c.name]}`)).toEqual([
      `insert:${COLLECTIONS.audit}`, // the pending event
      `findAndModify:${COLLECTIONS.keys}`, // the change
      `update:${COLLECTIONS.audit}`, // its completion
      `insert:${WEBHOOK_COLLECTIONS.outbox}`, // key.revoked for the endpoint
    ]);
    const inTxn = cmds.filter((c) => c.doc.autocommit === false);
    const first = txnOf(inTxn[0]!);
    expect(first.lsid).toMatch(/^[0-9a-f]{32}$/);
    expect(first.txnNumber).toBeGreaterThan(0);
    // Every command of the call, reads included, in the one transaction; the first starts it.
    for (const c of cmds.filter((c) => c.name !== "commitTransaction")) {
      expect(c.doc.autocommit, c.name).toBe(false);
      expect(txnOf(c), c.name).toEqual(first);
    }
    expect(inTxn[0]!.doc.startTransaction).toBe(true);
    expect(inTxn.slice(1).every((c) => c.doc.startTransaction === undefined)).toBe(true);
    const commits = cmds.filter((c) => c.name === "commitTransaction");
    expect(commits.map(txnOf)).toEqual([first]);
    expect(cmds.at(-1)!.name).toBe("commitTransaction");
    expect(cmds.some((c) => c.name === "abortTransaction")).toBe(false);
    // The audit log line: once, after the commit, as stored.
    expect(s.lines.map((l) => [l.event.action, l.event.outcome, l.stored])).toEqual([["key.revoke", "ok", true]]);
  });

  it("an outbox insert that fails leaves neither the change nor the event: abortTransaction, no commit, and the call fails", async () => {
    const s = await open();
    stub.handle = (cmd) =>
      on("insert", WEBHOOK_COLLECTIONS.outbox)(cmd)
        ? { ok: 0, code: 2, codeName: "BadValue", errmsg: "scripted failure" }
        : answer(cmd);
    const from = stub.commands.length;
    await expect(s.revoke()).rejects.toThrow();
    const cmds = sent(from);
    const change = cmds.find(on("findAndModify", COLLECTIONS.keys))!;
    const aborts = cmds.filter((c) => c.name === "abortTransaction");
    expect(aborts.map(txnOf)).toEqual([txnOf(change)]); // the change's own transaction is rolled back
    expect(cmds.some((c) => c.name === "commitTransaction")).toBe(false);
    // Not swallowed as before (a warning and an undelivered event), but the unit failed whole.
    expect(s.outboxFailures).toEqual([]);
    // What was logged: the failure only, recorded after the rolled-back unit as one finished event.
    expect(s.lines.map((l) => [l.event.action, l.event.outcome])).toEqual([["key.revoke", "failed"]]);
    const after = cmds.filter((c) => c.name === "insert" && c.doc.insert === COLLECTIONS.audit).at(-1)!;
    expect(after.doc.autocommit).toBeUndefined(); // outside the rolled-back transaction
    expect((after.doc.documents as Document[])[0]!.outcome).toBe("failed");
  });

  it("a commit that meets a write conflict runs the call again in a new transaction: one log line, one commit", async () => {
    const s = await open();
    let commits = 0;
    stub.handle = (cmd) => {
      if (cmd.name === "commitTransaction" && commits++ === 0)
        return {
          ok: 0,
          code: 112,
          codeName: "WriteConflict",
          errmsg: "scripted",
          errorLabels: ["TransientTransactionError"],
        };
      return answer(cmd);
    };
    const from = stub.commands.length;
    await s.revoke();
    const cmds = sent(from);
    const changes = cmds.filter(on("findAndModify", COLLECTIONS.keys)).map(txnOf);
    expect(changes).toHaveLength(2);
    expect(changes[1]!.txnNumber).toBe(changes[0]!.txnNumber! + 1);
    expect(cmds.filter((c) => c.name === "commitTransaction").map(txnOf)).toEqual(changes);
    expect(cmds.filter(on("insert", WEBHOOK_COLLECTIONS.outbox)).map(txnOf)).toEqual(changes);
    expect(s.lines.map((l) => [l.event.action, l.event.outcome])).toEqual([["key.revoke", "ok"]]);
  });

  it("a call refused inside the unit (NOT_FOUND) commits its FAILED event in the transaction", async () => {
    const s = await open();
    stub.handle = (cmd) =>
      on("findAndModify", COLLECTIONS.keys)(cmd)
        ? { lastErrorObject: { n: 0, updatedExisting: false }, value: null, ok: 1 }
        : on("find", COLLECTIONS.keys)(cmd)
          ? cursor(`wf.${COLLECTIONS.keys}`, [])
          : answer(cmd);
    const from = stub.commands.length;
    await expect(s.revoke()).rejects.toThrow("no such key");
    const cmds = sent(from);
    const completion = cmds.find(on("update", COLLECTIONS.audit))!;
    expect(completion.doc.updates[0].u.$set).toMatchObject({ outcome: "failed", code: "NOT_FOUND" });
    expect(cmds.filter((c) => c.name === "commitTransaction").map(txnOf)).toEqual([txnOf(completion)]);
    expect(cmds.some(on("insert", WEBHOOK_COLLECTIONS.outbox))).toBe(false); // a failed call sends nothing
    expect(s.lines.map((l) => [l.event.action, l.event.outcome])).toEqual([["key.revoke", "failed"]]);
  });

  it("a key revoked by a secret-scanning alert: the revoke, key.exposed and its outbox message in one transaction", async () => {
    const s = await open();
    const exposures = createExposureService({
      store: s.store,
      clock,
      cache: createTokenCache({ ttlMs: 1000, maxEntries: 10, maxNegativeEntries: 10 }),
      audit: s.audit,
      sessions: { revokeCreatedBy: async () => 0 }, // a tenant key: never asked
    });
    const live = { ...toKeyDoc(ROTATED_KEY), status: "active" };
    stub.handle = (cmd) => {
      if (on("find", COLLECTIONS.keys)(cmd)) return cursor(`wf.${COLLECTIONS.keys}`, [live]);
      if (on("findAndModify", COLLECTIONS.keys)(cmd)) {
        const exposure = cmd.doc.update.$set.exposure as Document;
        return { lastErrorObject: { n: 1, updatedExisting: true }, value: { ...revokedDoc, exposure }, ok: 1 };
      }
      return answer(cmd);
    };
    const from = stub.commands.length;
    const feedback = await exposures.handle([
      { token: generateToken("api_key", ROTATED_KEY.tenantId), type: "warpflow_api_key", url: "", source: "" },
    ]);
    expect(feedback[0]!.label).toBe("true_positive");
    const cmds = sent(from);
    const change = cmds.find(on("findAndModify", COLLECTIONS.keys))!;
    expect(change.doc.autocommit).toBe(false);
    for (const c of [
      cmds.find(on("insert", COLLECTIONS.audit))!,
      cmds.find(on("update", COLLECTIONS.audit))!,
      cmds.find(on("insert", WEBHOOK_COLLECTIONS.outbox))!,
      cmds.find((c) => c.name === "commitTransaction")!,
    ])
      expect(txnOf(c), c.name).toEqual(txnOf(change));
    expect(cmds.find(on("find", COLLECTIONS.keys))!.doc.autocommit).toBeUndefined(); // the lookup: before the unit
  });

  it("RevokeKey of an admin key is not a transaction (its sessions are walked in batches): each write on its own", async () => {
    const s = await open();
    stub.handle = answer;
    const from = stub.commands.length;
    const adminKeyId = "key_ADMINADMINADMINADMI";
    await createAuditedCall(s.audit)("key.revoke", ctx, { tenantId: "admin", keyId: adminKeyId }, async (scope) => {
      scope.principal({ kind: "platform_admin", actor: "key_admin0000000000000" });
      await scope.begin();
      return s.store.revokeKey({ tenantId: "admin", keyId: adminKeyId, revokedAt: clock.now() });
    });
    const cmds = sent(from);
    expect(cmds.some((c) => c.name === "findAndModify")).toBe(true);
    // (A retryable write carries a txnNumber too: a transaction is autocommit false.)
    expect(cmds.filter((c) => c.doc.autocommit === false || c.doc.startTransaction)).toEqual([]);
    expect(cmds.some((c) => c.name === "commitTransaction")).toBe(false);
    expect(s.lines.map((l) => [l.event.action, l.event.outcome])).toEqual([["key.revoke", "ok"]]);
  });

  it("a standalone server (no transactions, as the driver's topology says): today's path, each write on its own", async () => {
    stub.replicaSet = false;
    const s = await open();
    stub.handle = answer;
    const from = stub.commands.length;
    await s.revoke();
    const cmds = sent(from);
    expect(cmds.some(on("insert", WEBHOOK_COLLECTIONS.outbox))).toBe(true);
    expect(cmds.every((c) => c.doc.txnNumber === undefined && c.doc.autocommit === undefined)).toBe(true);
    expect(cmds.some((c) => c.name === "commitTransaction")).toBe(false);
    expect(s.lines.map((l) => [l.event.action, l.event.outcome])).toEqual([["key.revoke", "ok"]]);
  });
});
