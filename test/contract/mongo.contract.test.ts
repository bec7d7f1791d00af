import { bootstrapAtOnce } from "../support/bootstrap-replicas.js";
import { randomBytes } from "node:crypto";
import { MongoClient } from "mongodb";
import { afterAll, describe, expect, it } from "vitest";
import { COLLECTIONS } from "../../src/adapters/mongo/mongo-documents.js";
import { ensureIndexes, INDEX } from "../../src/adapters/mongo/mongo-indexes.js";
import { newKeyId, newSessionId } from "../../src/domain/key-rules.js";
import type { KeyRecord } from "../../src/domain/records.js";
import {
  dropDatabase,
  obtainMongo,
  openMongoStore,
  sayMongoSkipped,
  uniqueDbName,
  waitUntilServing,
  withStoreAndDb,
} from "../support/mongo.js";
import { createMongoStore } from "../../src/adapters/mongo/mongo-token-store.js";
import type { StoreChange } from "../../src/ports/store-changes.js";
import { tokenStoreContract } from "./token-store.contract.js";
import { webhookStoreContract } from "./webhook-store.contract.js";
import { WEBHOOK_COLLECTIONS, WEBHOOK_INDEX } from "../../src/adapters/mongo/mongo-webhook-store.js";
import { ADMIN_TENANT_ID } from "../../src/domain/tenant-id.js";
import { pollUntil, sleep } from "../support/poll.js";
import type { TokenStore } from "../../src/ports/token-store.js";

/**
 * The MongoDB leg: the same contract as the memory adapter, plus what only MongoDB has (indexes,
 * several service replicas on one database). Skipped, with one line saying how to run it, when no
 * MongoDB can be had (see test/support/mongo.ts).
 */
const mongo = await obtainMongo();
if (!mongo.available) sayMongoSkipped(mongo.reason);
const uri = mongo.available ? mongo.uri : "";
afterAll(async () => {
  if (mongo.available) await mongo.stop();
});

describe.skipIf(!mongo.available)("store contract: MongoDB adapter", () => {
  tokenStoreContract(() => openMongoStore(uri, uniqueDbName("wf_contract")));
});

describe.skipIf(!mongo.available)("webhook store contract: MongoDB adapter", () => {
  webhookStoreContract(async () => {
    const dbName = uniqueDbName("wf_webhooks");
    const opened = createMongoStore({ uri, dbName });
    await waitUntilServing(opened.store);
    return {
      tokens: opened.store,
      webhooks: opened.webhooks,
      async dispose() {
        await opened.store.close();
        await dropDatabase(uri, dbName);
      },
    };
  });
});

describe.skipIf(!mongo.available)("MongoDB adapter: the webhook sender's queries use their indexes (explain)", () => {
  it("due messages, one endpoint's pending messages in order, and the claim are index reads without a sort", async () => {
    await withStoreAndDb(uri, "wf_webhook_explain", async (_store, db) => {
      const outbox = db.collection(WEBHOOK_COLLECTIONS.outbox);
      const plan = async (p: Promise<unknown>) =>
        JSON.stringify(((await p) as { queryPlanner: { winningPlan: unknown } }).queryPlanner.winningPlan);
      const due = await plan(
        outbox.find({ state: "pending", nextAttemptAt: { $lte: new Date() } }).explain("queryPlanner"),
      );
      expect(due).toContain(WEBHOOK_INDEX.outboxDue);
      const order = await plan(
        outbox
          .find({ endpointId: "wh_x", state: "pending" })
          .sort({ createdAt: 1, _id: 1 })
          .limit(20)
          .explain("queryPlanner"),
      );
      expect(order).toContain(WEBHOOK_INDEX.outboxOrder);
      expect(order).not.toContain('"stage":"SORT"');
      for (const p of [due, order]) expect(p).not.toContain('"COLLSCAN"');
      // The claim is an update by _id (the built-in index).
      const claim = await plan(
        db
          .collection(WEBHOOK_COLLECTIONS.endpoints)
          .find({ _id: "wh_x" as never })
          .explain("queryPlanner"),
      );
      expect(claim).not.toContain('"COLLSCAN"');
    });
  });
});

const key = (tenantId: string, n: number): KeyRecord => ({
  id: newKeyId(),
  tenantId,
  label: `k${n}`,
  tokenHash: randomBytes(32).toString("base64url"),
  hint: "wf_k_…",
  status: "active",
  createdAt: new Date(Date.UTC(2030, 0, 1, 0, 0, n)),
  createdBy: "test",
});

/** A writer and a watching instance on one fresh database; `fn` runs once the watcher's change stream is open. */
async function withWriterAndWatcher(
  prefix: string,
  fn: (writer: { store: TokenStore }, seen: StoreChange[]) => Promise<void>,
): Promise<void> {
  const dbName = uniqueDbName(prefix);
  const writer = await openMongoStore(uri, dbName);
  const watcher = createMongoStore({ uri, dbName });
  const seen: StoreChange[] = [];
  const stop = watcher.changes.subscribe((c) => seen.push(c));
  try {
    await waitUntilServing(watcher.store);
    await sleep(1000); // let the stream open before the writes
    await fn(writer, seen);
  } finally {
    stop();
    await watcher.store.close();
    await writer.dispose();
  }
}

describe.skipIf(!mongo.available)("MongoDB adapter: indexes and replicas", () => {
  it("answers Introspect with one indexed read and ListKeys with two ordered index scans (explain)", async () => {
    await withStoreAndDb(uri, "wf_explain", async (store, db) => {
      const t = "tenant-explain";
      for (let i = 0; i < 3; i++) await store.insertKey(key(t, i), 3);
      const session = {
        id: newSessionId(),
        tenantId: t,
        tokenHash: "h",
        createdAt: new Date(),
        expiresAt: new Date(Date.UTC(2030, 0, 1)),
        createdBy: "test",
      };
      await store.insertSession(session);
      const plan = async (p: Promise<unknown>) =>
        JSON.stringify(((await p) as { queryPlanner: { winningPlan: unknown } }).queryPlanner.winningPlan);
      // An index scan by that index: IXSCAN names it; 8.0's EXPRESS_IXSCAN (equality on a unique
      // single-field index, limit 1) may only show its key pattern.
      const usesIndex = (p: string, name: string, field: string) =>
        p.includes(name) || (p.includes("EXPRESS_IXSCAN") && p.includes(field));

      const byHash = await plan(
        db.collection(COLLECTIONS.keys).find({ tokenHash: "x" }).limit(1).explain("queryPlanner"),
      );
      expect(usesIndex(byHash, INDEX.keyTokenHash, "tokenHash"), byHash).toBe(true);
      expect(byHash).not.toContain('"COLLSCAN"');

      const sessionByHash = await plan(
        db.collection(COLLECTIONS.sessions).find({ tokenHash: "h" }).limit(1).explain("queryPlanner"),
      );
      expect(usesIndex(sessionByHash, INDEX.sessionTokenHash, "tokenHash"), sessionByHash).toBe(true);
      expect(sessionByHash).not.toContain('"COLLSCAN"');

      // ListKeys: two reads, each one index scan that already yields the order (no blocking SORT).
      const keysColl = db.collection(COLLECTIONS.keys);
      for (const query of [
        keysColl.find({ tenantId: t, status: { $in: ["active", "deprecated"] } }).sort({ createdAt: -1, _id: -1 }),
        keysColl.find({ tenantId: t, status: "revoked" }).sort({ createdAt: -1, _id: -1 }).limit(200),
      ]) {
        const list = await plan(query.explain("queryPlanner"));
        expect(list).toContain(INDEX.keyTenantStatusCreated);
        expect(list).not.toContain('"COLLSCAN"');
        expect(list).not.toContain('"stage":"SORT"');
      }
    });
  });

  it("answers the expiry sweep's query with one ordered range of keys_status_expires_at (explain; issue 22)", async () => {
    await withStoreAndDb(uri, "wf_expiry_explain", async (store, db) => {
      const t = "tenant-expiry-explain";
      for (let i = 0; i < 3; i++)
        await store.insertKey({ ...key(t, i), expiresAt: new Date(Date.UTC(2030, 0, 1 + i)) }, 3);
      const query = db
        .collection(COLLECTIONS.keys)
        .find({ status: { $in: ["active", "deprecated"] }, expiresAt: { $lte: new Date(Date.UTC(2031, 0, 1)) } })
        .sort({ expiresAt: 1 })
        .limit(500);
      const plan = JSON.stringify(
        ((await query.explain("queryPlanner")) as { queryPlanner: { winningPlan: unknown } }).queryPlanner.winningPlan,
      );
      expect(plan).toContain(INDEX.keyExpirySweep);
      expect(plan).not.toContain('"COLLSCAN"');
      expect(plan).not.toContain('"stage":"SORT"');
      expect((await store.findKeysPastExpiry(new Date(Date.UTC(2031, 0, 1)), 500)).map((k) => k.tenantId)).toContain(t);
    });
  });

  it("answers ListAuditEvents with one ordered index range (explain), with or without an action filter", async () => {
    await withStoreAndDb(uri, "wf_audit_explain", async (_store, db) => {
      const coll = db.collection(COLLECTIONS.audit);
      for (const query of [
        coll
          .find({ tenantId: "acme", _id: { $lt: "ev_z" } as never })
          .sort({ _id: -1 })
          .limit(101),
        coll
          .find({ tenantId: "acme", action: "key.rotate", _id: { $gte: "ev_0", $lt: "ev_z" } as never })
          .sort({ _id: -1 })
          .limit(101),
      ]) {
        const plan = JSON.stringify(
          ((await query.explain("queryPlanner")) as { queryPlanner: { winningPlan: unknown } }).queryPlanner
            .winningPlan,
        );
        expect(plan).toMatch(new RegExp(`${INDEX.auditTenant}|${INDEX.auditTenantAction}`));
        expect(plan).not.toContain('"COLLSCAN"');
        expect(plan).not.toContain('"stage":"SORT"');
      }
    });
  });

  it("tells other instances about new and revoked sessions (change stream), one event per session", async () => {
    await withWriterAndWatcher("wf_session_changes", async (writer, seen) => {
      const t = "tenant-sessions";
      const mk = () => ({
        id: newSessionId(),
        tenantId: t,
        tokenHash: randomBytes(32).toString("base64url"),
        createdAt: new Date(),
        expiresAt: new Date(Date.now() + 3600_000),
        createdBy: "k",
      });
      const [a, b, c] = [mk(), mk(), mk()];
      for (const s of [a, b, c]) await writer.store.insertSession(s); // inserts: session_created (WatchInvalidations)
      await writer.store.revokeSession({ tenantId: t, sessionId: a.id, revokedAt: new Date(), revokedBy: "k" });
      await writer.store.revokeTenantSessions({ tenantId: t, revokedAt: new Date(), revokedBy: "k" });
      await pollUntil(() => seen.length >= 6, 10_000, 50);
      expect(seen.slice(0, 3)).toEqual(
        [a, b, c].map((x) => ({ kind: "session_created", sessionId: x.id, tenantId: t })),
      );
      expect(seen[3]).toEqual({ kind: "session", sessionId: a.id });
      expect(new Set(seen.slice(4))).toEqual(
        new Set([
          { kind: "session", sessionId: b.id },
          { kind: "session", sessionId: c.id },
        ]),
      );
    });
  });

  it("creates the documented indexes, idempotently (several replicas may run it)", async () => {
    const dbName = uniqueDbName("wf_indexes");
    const clients = [new MongoClient(uri), new MongoClient(uri), new MongoClient(uri)];
    try {
      // (A concurrent first start, racing to create the collections, is covered by the replicas
      // test below, through the service's retrying start-up.)
      await ensureIndexes(clients[0]!.db(dbName));
      await Promise.all(clients.map((c) => ensureIndexes(c.db(dbName)))); // identical specs: no-ops
      const keys = await clients[0]!.db(dbName).collection(COLLECTIONS.keys).indexes();
      const slot = keys.find((i) => i.name === INDEX.keyActiveSlot);
      expect(slot).toMatchObject({
        key: { tenantId: 1, slot: 1 },
        unique: true,
        partialFilterExpression: { status: "active" },
      });
      expect(keys.find((i) => i.name === INDEX.keyGraceSlot)).toMatchObject({
        key: { tenantId: 1, graceSlot: 1 },
        unique: true,
        partialFilterExpression: { status: "deprecated", graceSlot: { $exists: true } },
      });
      // A second start finds every exact spec and builds nothing.
      expect(await ensureIndexes(clients[0]!.db(dbName))).toEqual({ built: [] });
      expect(keys.find((i) => i.name === INDEX.keyTokenHash)).toMatchObject({ unique: true });
      const sessions = await clients[0]!.db(dbName).collection(COLLECTIONS.sessions).indexes();
      expect(sessions.find((i) => i.name === INDEX.sessionTtl)).toMatchObject({
        key: { expiresAt: 1 },
        expireAfterSeconds: 0,
      });
      expect(sessions.find((i) => i.name === INDEX.sessionTenantExpires)).toMatchObject({
        key: { tenantId: 1, expiresAt: 1 },
      });
      expect(sessions.find((i) => i.name === INDEX.sessionCreatedByExpires)).toMatchObject({
        key: { createdBy: 1, expiresAt: 1 },
      });
    } finally {
      await Promise.all(clients.map((c) => c.close()));
      await dropDatabase(uri, dbName);
    }
  });

  it("holds the limit across several service replicas on one database", async () => {
    const dbName = uniqueDbName("wf_replicas");
    const replicas = await Promise.all([1, 2, 3].map(() => openMongoStore(uri, dbName)));
    try {
      const t = "tenant-replicas";
      const results = await Promise.all(
        Array.from({ length: 30 }, (_, i) => replicas[i % 3]!.store.insertKey(key(t, i), 3)),
      );
      expect(results.filter((r) => r.ok)).toHaveLength(3);
      const [a, b] = results.filter((r) => r.ok).map((r) => (r.ok ? r.key.id : ""));
      // Rotations of one key from every replica at once: exactly one wins.
      const rotations = await Promise.all(
        replicas.map((r, i) =>
          r.store.rotateKey({
            tenantId: t,
            keyId: a!,
            successor: key(t, 100 + i),
            revokeAt: new Date(Date.UTC(2031, 0)),
            maxActive: 3,
            maxDeprecated: 3,
            now: new Date(),
          }),
        ),
      );
      expect(rotations.filter((r) => r.ok)).toHaveLength(1);
      await replicas[1]!.store.revokeKey({ tenantId: t, keyId: b!, revokedAt: new Date() });
      const active = (await replicas[2]!.store.listKeys(t, 100)).filter((k) => k.status === "active");
      expect(active).toHaveLength(2);
    } finally {
      for (const r of replicas.slice(1)) await r.store.close();
      await replicas[0]!.dispose();
    }
  });

  it("five service replicas, each on its own connection, bootstrap the admin key at once: exactly one key, one saved (issue 26.1)", async () => {
    const dbName = uniqueDbName("wf_bootstrap");
    const replicas = await Promise.all([1, 2, 3, 4, 5].map(() => openMongoStore(uri, dbName)));
    try {
      const { outcomes, saved } = await bootstrapAtOnce(
        replicas.map((r) => r.store),
        { pollMs: 50 },
      );
      expect(outcomes.filter((o) => o.kind === "created")).toHaveLength(1);
      expect(saved).toHaveLength(1);
      const admin = (await replicas[0]!.store.listKeys(ADMIN_TENANT_ID, 0)).filter((k) => k.status === "active");
      expect(admin).toHaveLength(1);
    } finally {
      for (const r of replicas.slice(1)) await r.store.close();
      await replicas[0]!.dispose();
    }
  });

  it("tells other instances about revokes, rotations and policy changes (change stream)", async () => {
    await withWriterAndWatcher("wf_changes", async (writer, seen) => {
      const t = "tenant-changes";
      const a = await writer.store.insertKey(key(t, 1), 3);
      await writer.store.recordKeyUses([{ keyId: a.ok ? a.key.id : "", at: new Date() }]); // not a status change: no event
      await writer.store.revokeKey({ tenantId: t, keyId: a.ok ? a.key.id : "", revokedAt: new Date() });
      await writer.store.setPolicy({ tenantId: t, hipaaEnabled: true });
      await pollUntil(() => seen.length >= 3, 10_000, 50);
      expect(seen).toEqual([
        { kind: "key_created", keyId: a.ok ? a.key.id : "", tenantId: t },
        { kind: "key", keyId: a.ok ? a.key.id : "", status: "revoked" },
        // setPolicy's upsert carries the whole document: the new HIPAA flag (WatchInvalidations).
        { kind: "policy", tenantId: t, hipaaEnabled: true },
      ]);
    });
  });
});
