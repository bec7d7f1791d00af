import { BSON, type Document, MongoClient } from "mongodb";
import { afterEach, describe, expect, it } from "vitest";
import { createMemoryTokenStore } from "../../src/adapters/memory/memory-token-store.js";
import { createMongoChangeFeed } from "../../src/adapters/mongo/mongo-change-feed.js";
import { InvalidationKind, ResetReason } from "../../src/gen/warpflow/auth/v1/token_service_pb.js";
import type { ChangeFeedStatus, StoreChange, StoreChangeFeed } from "../../src/ports/store-changes.js";
import { useMongoWireStub } from "../support/mongo-wire-fixture.js";
import { sleep } from "../support/poll.js";
import { startTestApp, useTestApp } from "../support/test-app.js";
import { watchGrpc, type Watch } from "../support/watch-client.js";

/**
 * Changes made on other instances reach WatchInvalidations through the store's change feed, and
 * heartbeats say whether this instance sees every change (`complete`: the feed is live). First with
 * a scripted feed (as change-feed.e2e.test.ts), then with the real driver's change stream against
 * the MongoDB wire stub (as mongo-change-feed-wire.test.ts; no mongod here).
 */
const open: Watch[] = [];
afterEach(() => open.splice(0).forEach((w) => w.cancel()));
const track = (w: Watch) => (open.push(w), w);
const K = InvalidationKind;
const lastHeartbeat = (w: Watch) => w.messages.findLast((m) => m.event.case === "heartbeat");
const completeIs = (w: Watch, complete: boolean, after: number) =>
  w.until(
    (m) => w.messages.indexOf(m) >= after && m.event.case === "heartbeat" && m.event.value.complete === complete,
    5000,
    `a heartbeat with complete=${complete}`,
  );

describe("a scripted change feed", () => {
  const status: ChangeFeedStatus = { state: "live", reopenings: 0 };
  const listeners = new Set<(c: StoreChange) => void>();
  const feed: StoreChangeFeed = {
    subscribe: (l) => (listeners.add(l), () => listeners.delete(l)),
    status: () => ({ ...status }),
  };
  const emit = (c: StoreChange) => listeners.forEach((l) => l(c));
  const t = useTestApp({
    store: createMemoryTokenStore(),
    changes: feed,
    env: { WATCH_HEARTBEAT_MS: "50" },
    logLevel: "warn",
  });

  it("each change seen on the feed is one invalidation, by id; a reset is a numbered FEED_RESTARTED", async () => {
    const w = track(watchGrpc(t.address));
    await w.until((m) => m.event.case === "heartbeat");
    const start = w.messages[0]!.sequence;
    emit({ kind: "key", keyId: "key_revoked0000000000000", status: "revoked" });
    emit({ kind: "key", keyId: "key_deprecated000000000", status: "deprecated" });
    emit({ kind: "key", keyId: "key_replaced00000000000" });
    emit({ kind: "key_created", keyId: "key_new0000000000000000", tenantId: "acme" });
    emit({ kind: "session", sessionId: "ses_revoked" });
    emit({ kind: "session_created", sessionId: "ses_new", tenantId: "acme" });
    emit({ kind: "policy", tenantId: "acme" });
    emit({ kind: "policy", tenantId: "globex", hipaaEnabled: true });
    emit({ kind: "reset" });
    const restarted = await w.until(
      (m) => m.event.case === "reset" && m.event.value.reason === ResetReason.FEED_RESTARTED,
    );
    const numbered = w.messages.filter((m) => m.sequence > start && m.event.case !== "heartbeat");
    expect(numbered.map((m) => m.sequence)).toEqual([1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n, 9n].map((i) => start + i));
    expect(
      numbered.map((m) =>
        m.event.case === "invalidation"
          ? [m.event.value.kind, m.event.value.tenantId, m.event.value.keyId || m.event.value.sessionId]
          : ["reset"],
      ),
    ).toEqual([
      [K.KEY_REVOKED, "", "key_revoked0000000000000"],
      [K.KEY_ROTATED, "", "key_deprecated000000000"],
      [K.KEY_CHANGED, "", "key_replaced00000000000"],
      [K.KEY_CREATED, "acme", "key_new0000000000000000"],
      [K.SESSION_REVOKED, "", "ses_revoked"],
      [K.SESSION_CREATED, "acme", "ses_new"],
      [K.TENANT_POLICY_CHANGED, "acme", ""],
      [K.TENANT_POLICY_CHANGED, "globex", ""],
      ["reset"],
    ]);
    // The new HIPAA flag where the feed carried it; absent (unknown) where it did not.
    const policies = numbered.flatMap((m) =>
      m.event.case === "invalidation" && m.event.value.kind === K.TENANT_POLICY_CHANGED ? [m.event.value] : [],
    );
    expect(policies.map((i) => i.hipaaEnabled)).toEqual([undefined, true]);
    expect(restarted.sequence).toBe(start + 9n);
    // A watcher that resumes across the restart replays it too.
    const resumed = track(
      watchGrpc(t.address, { resumeInstanceId: restarted.instanceId, resumeAfterSequence: start + 8n }),
    );
    await resumed.until((m) => m.event.case === "heartbeat");
    expect(resumed.messages[0]).toMatchObject({
      sequence: start + 9n,
      event: { case: "reset", value: { reason: ResetReason.FEED_RESTARTED } },
    });
  });

  it("heartbeats say complete=false while the feed is not live, and true again once it is", async () => {
    const w = track(watchGrpc(t.address));
    await completeIs(w, true, 0);
    status.state = "reopening";
    await completeIs(w, false, w.messages.length);
    status.state = "live";
    await completeIs(w, true, w.messages.length);
  });
});

/**
 * A change stream as the wire stub answers it: the aggregate that opens a cursor (ids from
 * `firstCursorId` on), and getMore batches of events, each with a fresh resume token.
 */
function scriptedStream(firstCursorId: number) {
  let cursorId = firstCursorId;
  let token = 10;
  const ns = "wf.$cmd.aggregate";
  return {
    opened: () => ({
      cursor: {
        id: BSON.Long.fromNumber(++cursorId),
        ns,
        firstBatch: [],
        postBatchResumeToken: { _data: `${token++}` },
      },
      operationTime: new BSON.Timestamp({ t: 1, i: 1 }),
      ok: 1,
    }),
    batch: (events: Document[]) => ({
      cursor: {
        id: BSON.Long.fromNumber(cursorId),
        ns,
        nextBatch: events.map((e) => ({
          _id: { _data: `${token++}` },
          clusterTime: new BSON.Timestamp({ t: 2, i: token }),
          ...e,
        })),
        postBatchResumeToken: { _data: `${token++}` },
      },
      ok: 1,
    }),
  };
}

describe("the MongoDB change stream (real driver, wire stub)", () => {
  const stub = useMongoWireStub({ replicaSet: true });

  it("inserts, status updates, session revokes and policy changes made elsewhere reach watchers; while the stream is down heartbeats say complete=false; its reopening is a FEED_RESTARTED reset", async () => {
    const getMores: Document[] = [];
    let aggregateFails = false;
    const stream = scriptedStream(500);
    const batch = stream.batch;
    stub.handle = async ({ name }) => {
      if (name === "aggregate") {
        if (aggregateFails) return { ok: 0, code: 136, codeName: "CappedPositionLost", errmsg: "lost" };
        return stream.opened();
      }
      if (name === "getMore") {
        const next = getMores.shift();
        if (next) return next;
        await sleep(30);
        return batch([]);
      }
      return undefined;
    };
    const client = stub.closeAfter(new MongoClient(stub.uri, { serverSelectionTimeoutMS: 300 }));
    await client.connect();
    const feed = createMongoChangeFeed(async () => client.db("wf"), {
      backoff: { initialMs: 10, maxMs: 50 },
      closeSettleMs: 800,
    });
    const t = await startTestApp({
      store: createMemoryTokenStore(),
      changes: feed,
      env: { WATCH_HEARTBEAT_MS: "50" },
      logLevel: "warn",
    });
    try {
      const w = track(watchGrpc(t.address));
      await w.until((m) => m.event.case === "heartbeat" && m.event.value.complete, 5000, "a complete heartbeat");
      getMores.push(
        batch([
          {
            operationType: "insert",
            ns: { db: "wf", coll: "keys" },
            documentKey: { _id: "key_elsewhere000000000" },
            fullDocument: { tenantId: "acme" },
          },
          {
            operationType: "update",
            ns: { db: "wf", coll: "keys" },
            documentKey: { _id: "key_elsewhere000000000" },
            updateDescription: { updatedFields: { status: "revoked" } },
          },
          {
            operationType: "insert",
            ns: { db: "wf", coll: "sessions" },
            documentKey: { _id: "ses_elsewhere" },
            fullDocument: { tenantId: "acme" },
          },
          {
            operationType: "update",
            ns: { db: "wf", coll: "sessions" },
            documentKey: { _id: "ses_elsewhere" },
            updateDescription: { updatedFields: { revokedAt: new Date() } },
          },
          { operationType: "update", ns: { db: "wf", coll: "tenant_policies" }, documentKey: { _id: "acme" } },
          // setPolicy's upsert: a replace carrying the projected document's HIPAA flag.
          {
            operationType: "replace",
            ns: { db: "wf", coll: "tenant_policies" },
            documentKey: { _id: "globex" },
            fullDocument: { hipaaEnabled: true },
          },
          {
            operationType: "insert",
            ns: { db: "wf", coll: "tenant_policies" },
            documentKey: { _id: "initech" },
            fullDocument: { hipaaEnabled: false },
          },
          { operationType: "delete", ns: { db: "wf", coll: "tenant_policies" }, documentKey: { _id: "umbrella" } },
        ]),
      );
      await w.until(
        (m) =>
          m.event.case === "invalidation" &&
          m.event.value.kind === K.TENANT_POLICY_CHANGED &&
          m.event.value.tenantId === "umbrella",
        5000,
        "the policy changes",
      );
      const invs = w.messages.flatMap((m) => (m.event.case === "invalidation" ? [m.event.value] : []));
      expect(invs.map((i) => [i.kind, i.tenantId, i.keyId || i.sessionId])).toEqual([
        [K.KEY_CREATED, "acme", "key_elsewhere000000000"],
        [K.KEY_REVOKED, "", "key_elsewhere000000000"],
        [K.SESSION_CREATED, "acme", "ses_elsewhere"],
        [K.SESSION_REVOKED, "", "ses_elsewhere"],
        [K.TENANT_POLICY_CHANGED, "acme", ""],
        [K.TENANT_POLICY_CHANGED, "globex", ""],
        [K.TENANT_POLICY_CHANGED, "initech", ""],
        [K.TENANT_POLICY_CHANGED, "umbrella", ""],
      ]);
      // The new HIPAA flag where the event carries it; an update without it or a delete: absent.
      expect(invs.slice(4).map((i) => i.hipaaEnabled)).toEqual([undefined, true, false, undefined]);
      // What the stream asks MongoDB for: inserts of keys and sessions, and of a document only its
      // tenant, HIPAA flag and token hash (this instance drops its own not-found entry for exactly
      // that token; the hash never reaches a watcher: the invalidations above carry ids only).
      const aggregate = stub.commands.find((c) => c.name === "aggregate")!.doc as Document;
      const stages = JSON.stringify(aggregate.pipeline);
      expect(stages).toContain('"fullDocument.tenantId":1');
      expect(stages).toContain('"fullDocument.hipaaEnabled":1');
      expect(stages).toContain('"fullDocument.tokenHash":1');
      expect(stages).not.toMatch(/"fullDocument":1|"fullDocument.(label|hint|createdBy|scopes)"/);
      expect(stages).toMatch(/"ns.coll":"sessions","operationType":"insert"/);

      // The stream breaks and cannot reopen for a while: heartbeats say incomplete.
      aggregateFails = true;
      const before = w.messages.length;
      getMores.push({ ok: 0, code: 136, codeName: "CappedPositionLost", errmsg: "lost" });
      await completeIs(w, false, before);
      expect(feed.status!().state).toBe("reopening");
      aggregateFails = false;
      const restarted = await w.until(
        (m) =>
          w.messages.indexOf(m) >= before &&
          m.event.case === "reset" &&
          m.event.value.reason === ResetReason.FEED_RESTARTED,
        10_000,
        "FEED_RESTARTED",
      );
      await completeIs(w, true, w.messages.indexOf(restarted));
      expect(lastHeartbeat(w)!.event.case).toBe("heartbeat");
    } finally {
      open.splice(0).forEach((w) => w.cancel());
      await t.close();
    }
  }, 30_000);

  it("a getMore that hangs (no error, no close: a partition): heartbeats say complete=false within a second of its last answer, at the default heartbeat interval", async () => {
    const stream = scriptedStream(900);
    let hang = false;
    let lastAnswerAt = 0;
    stub.handle = async ({ name }) => {
      if (name === "aggregate") return stream.opened();
      if (name === "getMore") {
        if (hang) {
          await sleep(8000); // socketTimeoutMS would end it; the test is over long before
          return undefined;
        }
        await sleep(30); // an awaitData getMore that found nothing
        lastAnswerAt = performance.now();
        return stream.batch([]);
      }
      return undefined;
    };
    const client = stub.closeAfter(new MongoClient(stub.uri, { serverSelectionTimeoutMS: 300 }));
    await client.connect();
    const feed = createMongoChangeFeed(async () => client.db("wf"), { backoff: { initialMs: 10, maxMs: 50 } });
    const t = await startTestApp({ store: createMemoryTokenStore(), changes: feed, logLevel: "warn" });
    try {
      const w = track(watchGrpc(t.address));
      await w.until((m) => m.event.case === "heartbeat" && m.event.value.complete, 5000, "a complete heartbeat");
      await sleep(300);
      hang = true;
      const before = w.messages.length;
      await completeIs(w, false, before);
      const delayMs = performance.now() - lastAnswerAt;
      console.log(`[watch-feed] complete=false heard ${delayMs.toFixed(0)} ms after the stream's last answer`);
      // 750 ms of silence, then at most 100 ms to the prompt heartbeat; was 3 s plus up to 500 ms.
      expect(delayMs).toBeGreaterThanOrEqual(700);
      expect(delayMs).toBeLessThan(1500);
    } finally {
      open.splice(0).forEach((w) => w.cancel());
      await t.close();
    }
  }, 30_000);
});
