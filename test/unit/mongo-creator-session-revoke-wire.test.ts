import { type Document } from "mongodb";
import { describe, expect, it } from "vitest";
import { INDEX } from "../../src/adapters/mongo/mongo-indexes.js";
import { PartialRevocationError } from "../../src/domain/errors.js";
import type { SessionRef } from "../../src/ports/token-store.js";
import { useMongoWireStub } from "../support/mongo-wire-fixture.js";
import { sessionsCollection, type Session } from "../support/mongo-sessions-stub.js";
import { sleep } from "../support/poll.js";
import { status } from "@grpc/grpc-js";
import { createMemoryTokenStore } from "../../src/adapters/memory/memory-token-store.js";
import { AuditAction, AuditOutcome, KeyStatus } from "../../src/gen/warpflow/auth/v1/token_service_pb.js";
import { startTestApp } from "../support/test-app.js";

/**
 * revokeSessionsCreatedBy (RevokeKey of an admin key) against a scripted MongoDB at the wire: the
 * real driver sends what the adapter builds; the scripted `sessions` collection evaluates it.
 */
const HOUR = 3600_000;
const CREATOR = "key_AAAAAAAAAAAAAAAAAAAA";
let seq = 0;
function session(tenantId: string, createdBy: string, createdAt: Date, expiresAt: Date): Session {
  seq++;
  return { _id: `ses_${seq}`, v: 1, tenantId, tokenHash: `h${seq}`, createdAt, expiresAt, createdBy };
}

const stub = useMongoWireStub({ replicaSet: true });

describe("the sessions an admin key created, revoked with it", () => {
  it("revokes in batches on {createdBy, expiresAt} across tenants, answers the count and the sessions found", async () => {
    const now = Date.now();
    const mine = Array.from({ length: 250 }, (_, i) =>
      session(i % 2 ? "acme" : "globex", CREATOR, new Date(now - HOUR + i), new Date(now + 1000 + i * 1000)),
    );
    const other = session("acme", "key_BBBBBBBBBBBBBBBBBBBB", new Date(now - HOUR), new Date(now + HOUR));
    const expired = session("acme", CREATOR, new Date(now - 2 * HOUR), new Date(now - 1));
    // Minted by the creator after the revoke time (its CreateSession raced the RevokeKey): revoked too.
    const late = session("acme", CREATOR, new Date(now + 5), new Date(now + 2 * HOUR));
    const docs = [...mine, other, expired, late];
    const seen = sessionsCollection(stub, docs);
    const s = await stub.readyStore({ sessionRevoke: { batchSize: 100, budgetMs: 30_000 } });

    const told: SessionRef[][] = [];
    const revokedCount = await s.revokeSessionsCreatedBy({
      createdBy: CREATOR,
      revokedAt: new Date(now),
      revokedBy: "key_ops",
      onRevoked: (batch) => {
        // Told after each write: every session of the batch is revoked by then.
        expect(batch.every((b) => docs.find((d) => d._id === b.sessionId)?.revokedAt !== undefined)).toBe(true);
        told.push([...batch]);
      },
    });
    expect(revokedCount).toBe(251);
    expect(told.map((b) => b.length)).toEqual([100, 100, 51]);
    expect(told[0]![0]).toEqual({ tenantId: "globex", sessionId: mine[0]!._id });
    expect(new Set(told.flat().map((x) => x.tenantId))).toEqual(new Set(["acme", "globex"]));
    expect([...mine, late].every((d) => d.revokedAt?.getTime() === now && d.revokedBy === "key_ops")).toBe(true);
    expect(other.revokedAt).toBeUndefined();
    expect(expired.revokedAt).toBeUndefined();

    const built = stub.commands
      .filter((c) => c.name === "createIndexes" && c.doc.createIndexes === "sessions")
      .flatMap((c) => c.doc.indexes as Document[]);
    expect(built.find((i) => i.name === INDEX.sessionCreatedByExpires)?.key).toEqual({ createdBy: 1, expiresAt: 1 });
    const finds = seen.filter((c) => c.name === "find");
    expect(finds.length).toBeGreaterThanOrEqual(3);
    for (const f of finds) {
      expect(f.doc.hint).toBe(INDEX.sessionCreatedByExpires);
      expect(f.doc.filter).toMatchObject({ createdBy: CREATOR, revokedAt: { $exists: false } });
      expect(f.doc.filter.createdAt).toBeUndefined();
      expect(f.doc.projection).toEqual({ _id: 1, expiresAt: 1, tenantId: 1 });
    }
    const updates = seen.filter((c) => c.name === "update");
    expect(updates).toHaveLength(3); // 100 + 100 + 51
    for (const u of updates) {
      const statement = (u.doc.updates as { q: Document; hint?: Document }[])[0]!;
      expect(statement.hint).toEqual({ _id: 1 });
      expect(statement.q).toMatchObject({ createdBy: CREATOR, revokedAt: { $exists: false } });
    }
  }, 20_000);

  it("stops within its own budget with the count it revoked (UNAVAILABLE), and a retry revokes the rest", async () => {
    const now = Date.now();
    const mine = Array.from({ length: 500 }, (_, i) =>
      session("acme", CREATOR, new Date(now - HOUR), new Date(now + 1000 + i)),
    );
    sessionsCollection(stub, mine, { updateDelayMs: 120 });
    const s = await stub.readyStore({ sessionRevoke: { batchSize: 100, budgetMs: 300 } });
    const err = await s
      .revokeSessionsCreatedBy({ createdBy: CREATOR, revokedAt: new Date(now), revokedBy: "key_ops" })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(PartialRevocationError);
    expect((err as PartialRevocationError).revokedCount).toBeLessThan(500);
    expect((err as Error).message).toMatch(/admin key's sessions stopped after revoking \d+ sessions/);
    await sleep(300); // the batch in flight lands
    const before = mine.filter((d) => d.revokedAt).length;
    sessionsCollection(stub, mine);
    // The retry with a generous budget (what is tested is that it revokes the rest, on a loaded machine too).
    const fast = await stub.readyStore({ sessionRevoke: { batchSize: 100, budgetMs: 30_000 } });
    const rest = await fast.revokeSessionsCreatedBy({
      createdBy: CREATOR,
      revokedAt: new Date(now + 5),
      revokedBy: "key_ops",
    });
    expect(rest).toBe(500 - before);
    expect(mine.every((d) => d.revokedAt !== undefined)).toBe(true);
  }, 20_000);

  it("through the service: the key stays revoked when its sessions' walk stops (UNAVAILABLE, the part done in the event), a retry finishes", async () => {
    const mongo = await stub.readyStore({ timeouts: { transactionBudgetMS: 800 }, sessionRevoke: { batchSize: 100 } });
    const memory = createMemoryTokenStore();
    // Everything but this operation runs on the memory store.
    let walk = mongo.revokeSessionsCreatedBy;
    const t = await startTestApp({
      store: { ...memory, revokeSessionsCreatedBy: (args) => walk(args) },
      env: { STORE_TIMEOUT_MS: "800" },
    });
    try {
      const admin = () => ({ bearer: t.adminKey });
      const leaked = await t.grpc.createAdminKey({ label: "leaked" }, admin());
      const now = Date.now();
      const mine = Array.from({ length: 600 }, (_, i) =>
        session(i % 2 ? "acme" : "globex", leaked.key!.id, new Date(now - HOUR), new Date(now + HOUR + i)),
      );
      sessionsCollection(stub, mine, { updateDelayMs: 150 });
      const failure = await t.grpc.revokeKey({ tenantId: "admin", keyId: leaked.key!.id }, admin()).then(
        () => undefined,
        (e: { code: number }) => e,
      );
      expect(failure?.code).toBe(status.UNAVAILABLE);
      const keys = (await t.grpc.listKeys({ tenantId: "admin" }, admin())).keys;
      expect(keys.find((k) => k.id === leaked.key!.id)?.status).toBe(KeyStatus.REVOKED);
      const event = (
        await t.grpc.listAuditEvents({ tenantId: "admin", pageSize: 1, action: AuditAction.KEY_REVOKE }, admin())
      ).events[0]!;
      expect(event.outcome).toBe(AuditOutcome.FAILED);
      const done = Number(
        /key revoked; revoked (\d+) sessions it created before the store stopped/.exec(event.detail)?.[1],
      );
      expect(done).toBeGreaterThan(0);
      expect(done).toBeLessThan(600);

      await sleep(300); // the batch in flight lands
      const before = mine.filter((d) => d.revokedAt).length;
      sessionsCollection(stub, mine);
      // The retry with all of STORE_TIMEOUT_MS but a margin (its own budget is not what is tested).
      walk = (await stub.readyStore({ sessionRevoke: { batchSize: 100, budgetMs: 750 } })).revokeSessionsCreatedBy;
      await t.grpc.revokeKey({ tenantId: "admin", keyId: leaked.key!.id }, admin()); // the retry: OK
      const retry = (
        await t.grpc.listAuditEvents({ tenantId: "admin", pageSize: 1, action: AuditAction.KEY_REVOKE }, admin())
      ).events[0]!;
      expect(retry).toMatchObject({ outcome: AuditOutcome.OK, detail: `revoked ${600 - before} sessions it created` });
      expect(mine.every((d) => d.revokedAt !== undefined)).toBe(true);
    } finally {
      await t.close();
    }
  }, 20_000);
});
