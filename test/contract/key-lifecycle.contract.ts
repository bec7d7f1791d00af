// Issue 22's part of THE store contract (called from token-store.contract.ts, so it runs against
// every adapter): expiry fields round-trip, the expiry sweep's query, atomic suspend and resume
// (never on a revoked key, also when racing a revoke), and a partial tenant policy write.
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { newKeyId } from "../../src/domain/key-rules.js";
import type { KeyRecord } from "../../src/domain/records.js";
import type { TokenStore } from "../../src/ports/token-store.js";

const MAX = 3;
const T0 = Date.parse("2030-01-01T00:00:00.000Z");
const at = (ms: number) => new Date(T0 + ms);
const HOUR = 3600_000;
let seq = 0;
const tenant = () => `t-${randomBytes(6).toString("hex")}`;

function newKey(tenantId: string, over: Partial<KeyRecord> = {}): KeyRecord {
  seq++;
  return {
    id: newKeyId(),
    tenantId,
    label: `key ${seq}`,
    tokenHash: randomBytes(32).toString("base64url"),
    hint: `wf_k_…${String(seq).padStart(4, "0")}`,
    status: "active",
    createdAt: at(seq * 1000),
    createdBy: "user:alice",
    ...over,
  };
}

export function keyLifecycleContract(current: () => TokenStore): void {
  const insert = async (key: KeyRecord) => {
    const r = await current().insertKey(key, MAX);
    if (!r.ok) throw new Error("insertKey refused");
    return r.key;
  };

  describe("keys: expiry, suspend and resume (issue 22)", () => {
    it("round-trips expiresAt, suspendedAt and suspendedBy; a key without them has none", async () => {
      const store = current();
      const t = tenant();
      const k = await insert(newKey(t, { expiresAt: at(90 * 24 * HOUR) }));
      expect(k.expiresAt).toEqual(at(90 * 24 * HOUR));
      expect(await store.findKeyByHash(k.tokenHash)).toEqual(k);
      const plain = await insert(newKey(t));
      expect(Object.keys(plain)).not.toContain("expiresAt");
      const s = await store.suspendKey({ tenantId: t, keyId: k.id, suspendedAt: at(HOUR), suspendedBy: "admin-1" });
      expect(s).toEqual({ ...k, suspendedAt: at(HOUR), suspendedBy: "admin-1" });
      expect(await store.getKey(t, k.id)).toEqual(s);
    });

    it("finds active and deprecated keys whose expiresAt <= now, earliest first, at most `limit`; none once revoked", async () => {
      const store = current();
      const t = tenant();
      const now = at(10 * HOUR);
      const later = await insert(newKey(t, { expiresAt: at(9 * HOUR) }));
      const boundary = await insert(newKey(t, { expiresAt: now }));
      const earlier = await insert(newKey(t, { expiresAt: at(8 * HOUR) }));
      const t2 = tenant();
      await insert(newKey(t2, { expiresAt: at(11 * HOUR) })); // not yet
      await insert(newKey(t2)); // never
      const deprecated = await insert(newKey(t2, { expiresAt: at(7 * HOUR) }));
      await store.rotateKey({
        tenantId: t2,
        keyId: deprecated.id,
        successor: newKey(t2),
        revokeAt: at(20 * HOUR),
        maxActive: MAX,
        maxDeprecated: MAX,
        now: at(HOUR),
      });
      const mine = (keys: KeyRecord[]) => keys.filter((k) => k.tenantId === t || k.tenantId === t2).map((k) => k.id);
      expect(mine(await store.findKeysPastExpiry(now, 100))).toEqual([
        deprecated.id,
        earlier.id,
        later.id,
        boundary.id,
      ]);
      expect(await store.findKeysPastExpiry(now, 1)).toHaveLength(1);
      await store.revokeKey({ tenantId: t, keyId: earlier.id, revokedAt: earlier.expiresAt! });
      expect(mine(await store.findKeysPastExpiry(now, 100))).toEqual([deprecated.id, later.id, boundary.id]);
    });

    it("suspends once (a second suspend keeps the first), resumes; scoped to the tenant; null for an unknown key", async () => {
      const store = current();
      const t = tenant();
      const k = await insert(newKey(t));
      const first = await store.suspendKey({ tenantId: t, keyId: k.id, suspendedAt: at(HOUR), suspendedBy: "a" });
      const again = await store.suspendKey({ tenantId: t, keyId: k.id, suspendedAt: at(2 * HOUR), suspendedBy: "b" });
      expect(again).toEqual(first);
      expect(
        await store.suspendKey({ tenantId: tenant(), keyId: k.id, suspendedAt: at(HOUR), suspendedBy: "x" }),
      ).toBeNull();
      expect(await store.resumeKey({ tenantId: tenant(), keyId: k.id })).toBeNull();
      expect(await store.resumeKey({ tenantId: t, keyId: newKeyId() })).toBeNull();
      const resumed = await store.resumeKey({ tenantId: t, keyId: k.id });
      expect(resumed).toEqual(k);
      expect(await store.resumeKey({ tenantId: t, keyId: k.id })).toEqual(k); // not suspended: unchanged
      // Still active all along: it kept its place among the active keys.
      expect((await store.listKeys(t, 0)).map((x) => x.status)).toEqual(["active"]);
    });

    it("the platform's suspension: takes over a tenant's, is kept by a second one, lifted only with byPlatform", async () => {
      const store = current();
      const t = tenant();
      const k = await insert(newKey(t));
      const args = { tenantId: t, keyId: k.id };
      await store.suspendKey({ ...args, suspendedAt: at(HOUR), suspendedBy: "tenant-admin" });
      const held = await store.suspendKey({
        ...args,
        suspendedAt: at(2 * HOUR),
        suspendedBy: "key_p",
        byPlatform: true,
      });
      expect(held).toEqual({ ...k, suspendedAt: at(2 * HOUR), suspendedBy: "key_p", suspendedByPlatform: true });
      expect(
        await store.suspendKey({ ...args, suspendedAt: at(3 * HOUR), suspendedBy: "key_q", byPlatform: true }),
      ).toEqual(held);
      expect(await store.suspendKey({ ...args, suspendedAt: at(3 * HOUR), suspendedBy: "tenant-admin" })).toEqual(held);
      expect(await store.resumeKey(args)).toEqual(held); // not the platform: unchanged
      expect(await store.getKey(t, k.id)).toEqual(held);
      expect(await store.resumeKey({ ...args, byPlatform: true })).toEqual(k);
      // A platform admin's resume lifts a tenant's suspension too.
      await store.suspendKey({ ...args, suspendedAt: at(4 * HOUR), suspendedBy: "tenant-admin" });
      expect(await store.resumeKey({ ...args, byPlatform: true })).toEqual(k);
    });

    it("never suspends or resumes a revoked key, also when racing revokes", async () => {
      const store = current();
      const t = tenant();
      const k = await insert(newKey(t));
      await store.suspendKey({ tenantId: t, keyId: k.id, suspendedAt: at(HOUR), suspendedBy: "a" });
      await store.revokeKey({ tenantId: t, keyId: k.id, revokedAt: at(2 * HOUR), revokedBy: "b" });
      const revoked = await store.getKey(t, k.id);
      expect(await store.resumeKey({ tenantId: t, keyId: k.id })).toEqual(revoked); // still suspended, still revoked
      const r = await insert(newKey(t));
      const race = await Promise.all([
        store.revokeKey({ tenantId: t, keyId: r.id, revokedAt: at(3 * HOUR), revokedBy: "c" }),
        store.suspendKey({ tenantId: t, keyId: r.id, suspendedAt: at(3 * HOUR), suspendedBy: "d" }),
        store.resumeKey({ tenantId: t, keyId: r.id }),
      ]);
      expect(race.every((x) => x !== null)).toBe(true);
      expect((await store.getKey(t, r.id))!.status).toBe("revoked");
    });

    it("rotation and suspension exclude each other: a suspended key is not rotated, a rotated key is not suspended, also when racing (review finding, session 32)", async () => {
      const store = current();
      const t = tenant();
      const rotate = (keyId: string, successor: KeyRecord) =>
        store.rotateKey({
          tenantId: t,
          keyId,
          successor,
          revokeAt: at(10 * HOUR),
          maxActive: MAX,
          maxDeprecated: 50,
          now: at(0),
        });
      const suspend = (keyId: string) =>
        store.suspendKey({ tenantId: t, keyId, suspendedAt: at(HOUR), suspendedBy: "s" });
      // In sequence, each way round.
      const a = await insert(newKey(t));
      const suspended = await suspend(a.id);
      const refused = newKey(t);
      expect(await rotate(a.id, refused)).toEqual({ ok: false, reason: "suspended" });
      expect(await store.getKey(t, a.id)).toEqual(suspended); // unchanged: still ACTIVE, still suspended
      expect(await store.getKey(t, refused.id)).toBeNull(); // no successor
      await store.revokeKey({ tenantId: t, keyId: a.id, revokedAt: at(HOUR), revokedBy: "x" });
      const b = await insert(newKey(t));
      const rotated = await rotate(b.id, newKey(t));
      expect(rotated.ok).toBe(true);
      const deprecated = await store.getKey(t, b.id);
      expect(await suspend(b.id)).toEqual(deprecated); // unchanged: DEPRECATED, not suspended
      expect(deprecated!.suspendedAt).toBeUndefined();
      if (rotated.ok) await store.revokeKey({ tenantId: t, keyId: rotated.key.id, revokedAt: at(HOUR) });
      // Racing: exactly one takes effect, every time.
      for (let i = 0; i < 20; i++) {
        const k = await insert(newKey(t));
        const successor = newKey(t);
        const [r, s] = await Promise.all([rotate(k.id, successor), suspend(k.id)]);
        const after = (await store.getKey(t, k.id))!;
        const suspendedIt = after.suspendedAt !== undefined;
        expect(r.ok !== suspendedIt, `run ${i}: rotation ${String(r.ok)}, suspension ${String(suspendedIt)}`).toBe(
          true,
        );
        expect(s).toEqual(after);
        if (r.ok) {
          expect(after).toMatchObject({ status: "deprecated", rotatedToKeyId: successor.id });
          await store.revokeKey({ tenantId: t, keyId: successor.id, revokedAt: at(HOUR) });
        } else {
          expect(r).toEqual({ ok: false, reason: "suspended" });
          expect(after.status).toBe("active");
          expect(await store.getKey(t, successor.id)).toBeNull();
        }
        await store.revokeKey({ tenantId: t, keyId: k.id, revokedAt: at(HOUR) });
      }
    });

    it("retires a rotation's predecessor once (exactly one of 10 concurrent callers), only while in its grace, and clears the successor's flag", async () => {
      const store = current();
      const t = tenant();
      const old = await insert(newKey(t));
      const successor = newKey(t, { retireOnFirstUse: true });
      const rotate = await store.rotateKey({
        tenantId: t,
        keyId: old.id,
        successor,
        revokeAt: at(10 * HOUR),
        maxActive: MAX,
        maxDeprecated: MAX,
        now: at(0),
      });
      expect(rotate.ok && rotate.key.retireOnFirstUse).toBe(true);
      const args = { tenantId: t, successorId: successor.id, predecessorId: old.id, revokedBy: "system:x" };
      // Not the successor of this rotation, or the grace already over at `at`: nothing.
      expect(await store.retirePredecessor({ ...args, successorId: newKeyId(), at: at(HOUR) })).toBe(false);
      expect(await store.retirePredecessor({ ...args, at: at(10 * HOUR) })).toBe(false);
      expect((await store.getKey(t, old.id))!.status).toBe("deprecated");
      const results = await Promise.all(
        Array.from({ length: 10 }, () => store.retirePredecessor({ ...args, at: at(HOUR) })),
      );
      expect(results.filter(Boolean)).toHaveLength(1);
      expect(await store.getKey(t, old.id)).toMatchObject({
        status: "revoked",
        revokedAt: at(HOUR),
        revokedBy: "system:x",
      });
      expect((await store.getKey(t, successor.id))!.retireOnFirstUse).toBeUndefined();
      // A revoked key is never retired again (nor un-revoked).
      expect(await store.retirePredecessor({ ...args, at: at(2 * HOUR) })).toBe(false);
    });

    it("sets only the named policy fields, keeping the others; starts a missing policy from the default", async () => {
      const store = current();
      const t = tenant();
      const p1 = await store.setPolicy(
        { tenantId: t, hipaaEnabled: true, maxKeyLifetimeMs: 30 * 24 * HOUR, updatedAt: at(HOUR), updatedBy: "u" },
        ["maxKeyLifetimeMs"],
      );
      expect(p1).toEqual({
        tenantId: t,
        hipaaEnabled: false,
        maxKeyLifetimeMs: 30 * 24 * HOUR,
        updatedAt: at(HOUR),
        updatedBy: "u",
      });
      const p2 = await store.setPolicy({ tenantId: t, hipaaEnabled: true, updatedAt: at(2 * HOUR), updatedBy: "v" }, [
        "hipaaEnabled",
      ]);
      expect(p2).toEqual({ ...p1, hipaaEnabled: true, updatedAt: at(2 * HOUR), updatedBy: "v" });
      expect(await store.getPolicy(t)).toEqual(p2);
      const p3 = await store.setPolicy({ tenantId: t, hipaaEnabled: false, updatedAt: at(3 * HOUR), updatedBy: "w" }, [
        "maxKeyLifetimeMs",
      ]);
      expect(p3).toEqual({ tenantId: t, hipaaEnabled: true, updatedAt: at(3 * HOUR), updatedBy: "w" });
      expect(await store.getPolicy(t)).toEqual(p3);
    });
  });
}
