import { EventEmitter } from "node:events";
import type { Db } from "mongodb";
import { MongoServerError } from "mongodb";
import { describe, expect, it } from "vitest";
import { fromAuditDoc, toAuditDoc } from "../../src/adapters/mongo/mongo-documents.js";
import { createMongoChangeFeed } from "../../src/adapters/mongo/mongo-change-feed.js";
import { COLLECTIONS, fromSessionDoc, toSessionDoc } from "../../src/adapters/mongo/mongo-documents.js";
import { AUDIT_INDEXES, ensureAuditRetention, INDEX } from "../../src/adapters/mongo/mongo-indexes.js";
import { newAuditEventId, type AuditEvent } from "../../src/domain/audit.js";
import type { StoreChange } from "../../src/ports/store-changes.js";
import { pollUntil } from "../support/poll.js";

/**
 * The MongoDB side of the audit trail and of session revocation, without a mongod (none can run on
 * these machines): document mapping, the retention index logic and the change feed, each against
 * a scripted stand-in at the driver boundary (a Db that records the calls it gets). The store
 * contract's MongoDB leg runs the rest against a real server when MONGODB_URI is set.
 */
describe("audit documents", () => {
  it("map both ways, omitting absent fields, with a schema version", () => {
    const e: AuditEvent = {
      id: newAuditEventId(new Date(5000)),
      time: new Date(5000),
      action: "key.rotate",
      outcome: "pending",
      code: "",
      actor: { kind: "admin_key", id: "key_AAAAAAAAAAAAAAAAAAAA", tenantId: "admin" },
      tenantId: "acme",
      keyId: "key_BBBBBBBBBBBBBBBBBBBB",
      peer: "10.1.2.3:4000",
    };
    const doc = toAuditDoc(e);
    expect(doc).toMatchObject({ _id: e.id, v: 1, time: e.time, tenantId: "acme", keyId: e.keyId });
    expect("sessionId" in doc).toBe(false);
    expect("detail" in doc).toBe(false);
    expect(fromAuditDoc(doc)).toStrictEqual(e);
    expect(fromAuditDoc({ ...doc, detail: null } as never)).toStrictEqual(e);
  });

  it("sessions keep revokedAt/revokedBy, and omit them until revoked", () => {
    const s = {
      id: "ses_x",
      tenantId: "acme",
      tokenHash: "h",
      createdAt: new Date(1),
      expiresAt: new Date(2),
      createdBy: "k",
    };
    expect("revokedAt" in toSessionDoc(s)).toBe(false);
    const r = { ...s, revokedAt: new Date(3), revokedBy: "key_admin" };
    expect(fromSessionDoc(toSessionDoc(r))).toStrictEqual(r);
  });
});

/** A Db stand-in that records createIndexes / dropIndex / command calls and fails as told. */
function scriptedDb(opts: { dropError?: number; createError?: number } = {}) {
  const calls: unknown[] = [];
  const serverError = (code: number) => new MongoServerError({ code, errmsg: `error ${code}` });
  const db = {
    collection: (name: string) => ({
      createIndexes: async (specs: unknown) => {
        calls.push({ createIndexes: name, specs });
        if (opts.createError) throw serverError(opts.createError);
        return [];
      },
      dropIndex: async (index: string) => {
        calls.push({ dropIndex: name, index });
        if (opts.dropError) throw serverError(opts.dropError);
      },
    }),
    command: async (cmd: unknown) => {
      calls.push({ command: cmd });
      return { ok: 1 };
    },
  };
  return { db: db as unknown as Db, calls };
}

describe("audit retention (AUDIT_RETENTION_DAYS)", () => {
  it("set: a TTL index on time with days * 86400 seconds", async () => {
    const { db, calls } = scriptedDb();
    await ensureAuditRetention(db, 30, false);
    expect(calls).toEqual([
      {
        createIndexes: COLLECTIONS.audit,
        specs: [{ name: INDEX.auditRetention, key: { time: 1 }, expireAfterSeconds: 30 * 86_400 }],
      },
    ]);
  });

  it("changed: the TTL index is dropped and created again (both in readWrite), never collMod (dbAdmin) (issue 18.2)", async () => {
    const { db, calls } = scriptedDb();
    await ensureAuditRetention(db, 7);
    expect(calls).toEqual([
      { dropIndex: COLLECTIONS.audit, index: INDEX.auditRetention },
      {
        createIndexes: COLLECTIONS.audit,
        specs: [{ name: INDEX.auditRetention, key: { time: 1 }, expireAfterSeconds: 7 * 86_400 }],
      },
    ]);
  });

  it("unset: the TTL index is dropped (keep forever); none there is fine; other errors are not swallowed", async () => {
    const none = scriptedDb({ dropError: 27 });
    await ensureAuditRetention(none.db, undefined);
    expect(none.calls).toEqual([{ dropIndex: COLLECTIONS.audit, index: INDEX.auditRetention }]);
    await expect(ensureAuditRetention(scriptedDb({ dropError: 13 }).db, undefined)).rejects.toThrow("error 13");
  });

  it("the query indexes serve ListAuditEvents newest first by tenant (and action); dedupe keys are unique", () => {
    expect(AUDIT_INDEXES.map((i) => i.key)).toEqual([
      { tenantId: 1, _id: -1 },
      { tenantId: 1, action: 1, _id: -1 },
      { dedupeKey: 1 },
    ]);
    expect(AUDIT_INDEXES[2]).toMatchObject({ unique: true, partialFilterExpression: { dedupeKey: { $exists: true } } });
  });
});

describe("change feed: revoked sessions", () => {
  it("watches session revocations and reports them by session id, keys and policies as before", async () => {
    const stream = Object.assign(new EventEmitter(), { close: async () => undefined });
    let pipeline: unknown;
    const db = { watch: (p: unknown) => ((pipeline = p), stream) } as unknown as Db;
    const seen: StoreChange[] = [];
    const stop = createMongoChangeFeed(async () => db).subscribe((c) => seen.push(c));
    await pollUntil(() => pipeline !== undefined, 2000, 5);
    expect(JSON.stringify(pipeline)).toContain(
      '"ns.coll":"sessions","operationType":"update","updateDescription.updatedFields.revokedAt"',
    );
    stream.emit("change", { ns: { coll: COLLECTIONS.sessions }, documentKey: { _id: "ses_AAAAAAAAAAAAAAAAAAAA" } });
    stream.emit("change", { ns: { coll: COLLECTIONS.keys }, documentKey: { _id: "key_AAAAAAAAAAAAAAAAAAAA" } });
    stream.emit("change", { ns: { coll: COLLECTIONS.policies }, documentKey: { _id: "acme" } });
    stop();
    expect(seen).toEqual([
      { kind: "reset" }, // the stream is established by its first event: caches start clean
      { kind: "session", sessionId: "ses_AAAAAAAAAAAAAAAAAAAA" },
      { kind: "key", keyId: "key_AAAAAAAAAAAAAAAAAAAA" },
      { kind: "policy", tenantId: "acme" },
    ]);
  });
});
