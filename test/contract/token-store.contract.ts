import { bootstrapAtOnce } from "../support/bootstrap-replicas.js";
import { randomBytes } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { StoreUnavailableError } from "../../src/domain/errors.js";
import { newKeyId, newSessionId } from "../../src/domain/key-rules.js";
import type { KeyRecord, SessionRecord } from "../../src/domain/records.js";
import { newAuditEventId, type AuditEvent } from "../../src/domain/audit.js";
import type { TokenStore } from "../../src/ports/token-store.js";
import { createAuditTrail } from "../../src/domain/audit-trail.js";
import { expireGracePeriods } from "../../src/domain/grace-expiry.js";
import { ADMIN_TENANT_ID } from "../../src/domain/tenant-id.js";
import { hashToken } from "../../src/domain/token-hash.js";
import { keyLifecycleContract } from "./key-lifecycle.contract.js";
import { sessionCreatorContract } from "./session-creator.contract.js";

/**
 * THE store contract: every behaviour of a TokenStore that the domain relies on. One suite, run
 * against every adapter (memory.contract.test.ts, mongo.contract.test.ts): an adapter is correct
 * when it passes this unchanged.
 *
 * All instants are in 2030+, so a server-side clock (MongoDB's TTL monitor) never deletes a test
 * session behind the test's back: expiry is always judged against the time the test passes in.
 */
export interface ContractStore {
  store: TokenStore;
  dispose(): Promise<void>;
}

const MAX = 3;
const MAX_DEPRECATED = 3;
const T0 = Date.parse("2030-01-01T00:00:00.000Z");
const at = (ms: number) => new Date(T0 + ms);
const HOUR = 3600_000;
/** The "now" rotations pass in: every revokeAt in these tests lies after it (in grace). */
const NOW = at(0);
/** The maintenance sweep's own path (findExpiredKeys, then revokeKey as of each key's revokeAt). */
const sweep = (store: TokenStore, now: Date) => {
  const clock = { now: () => now };
  return expireGracePeriods({ store, audit: createAuditTrail({ store, clock }), clock });
};
const KEY_FIELDS = new Set([
  "id",
  "tenantId",
  "label",
  "tokenHash",
  "hint",
  "status",
  "createdAt",
  "createdBy",
  "lastUsedAt",
  "revokeAt",
  "revokedAt",
  "revokedBy",
  "rotatedFromKeyId",
  "rotatedToKeyId",
  "scopes",
  "allowedCidrs",
  "expiresAt",
  "suspendedAt",
  "suspendedBy",
  "retireOnFirstUse",
]);

let seq = 0;
const tenant = () => `t-${randomBytes(6).toString("hex")}`;
const hash = () => randomBytes(32).toString("base64url");

function newKey(tenantId: string, over: Partial<KeyRecord> = {}): KeyRecord {
  seq++;
  return {
    id: newKeyId(),
    tenantId,
    label: `key ${seq}`,
    tokenHash: hash(),
    hint: `wf_k_…${String(seq).padStart(4, "0")}`,
    status: "active",
    createdAt: at(seq * 1000),
    createdBy: "user:alice",
    ...over,
  };
}

function newSession(tenantId: string, expiresAt: Date): SessionRecord {
  return { id: newSessionId(), tenantId, tokenHash: hash(), createdAt: at(0), expiresAt, createdBy: "user:bob" };
}

/** A record exposes domain fields only (no `_id`, `v`, `slot`, ... of the adapter). */
function expectOnlyRecordFields(record: object): void {
  for (const name of Object.keys(record)) {
    if ((record as Record<string, unknown>)[name] !== undefined)
      expect(KEY_FIELDS.has(name), `unexpected field ${name}`).toBe(true);
  }
}

export function tokenStoreContract(open: () => Promise<ContractStore>): void {
  let harness: ContractStore;
  let store: TokenStore;

  beforeEach(async () => {
    harness = await open();
    store = harness.store;
  });
  afterEach(async () => {
    await harness?.dispose();
  });

  async function insertOk(key: KeyRecord): Promise<KeyRecord> {
    const r = await store.insertKey(key, MAX);
    if (!r.ok) throw new Error(`insertKey refused: ${r.reason}`);
    return r.key;
  }
  async function activeIds(tenantId: string): Promise<string[]> {
    return (await store.listKeys(tenantId, 1000)).filter((k) => k.status === "active").map((k) => k.id);
  }

  describe("keys: insert and read", () => {
    it("round-trips every field through insertKey, findKeyByHash and getKey", async () => {
      const t = tenant();
      const key = newKey(t, { lastUsedAt: at(5), rotatedFromKeyId: newKeyId(), label: "CI deploy — ünïcode" });
      const r = await store.insertKey(key, MAX);
      expect(r).toEqual({ ok: true, key });
      const byHash = await store.findKeyByHash(key.tokenHash);
      const byId = await store.getKey(t, key.id);
      expect(byHash).toEqual(key);
      expect(byId).toEqual(key);
      expect(byHash!.createdAt).toBeInstanceOf(Date);
      expectOnlyRecordFields(byHash!);
      expectOnlyRecordFields(byId!);
    });

    it("stores an inserted key as active whatever status it came with", async () => {
      const t = tenant();
      const r = await store.insertKey(newKey(t, { status: "revoked" }), MAX);
      expect(r.ok && r.key.status).toBe("active");
    });

    it("answers null for an unknown hash or id", async () => {
      expect(await store.findKeyByHash(hash())).toBeNull();
      expect(await store.getKey(tenant(), newKeyId())).toBeNull();
    });

    it("scopes getKey, revokeKey and rotateKey to the key's tenant", async () => {
      const t = tenant();
      const other = tenant();
      const key = await insertOk(newKey(t));
      expect(await store.getKey(other, key.id)).toBeNull();
      expect(
        await store.revokeKey({ tenantId: other, keyId: key.id, revokedAt: at(HOUR), revokedBy: "mallory" }),
      ).toBeNull();
      const rot = await store.rotateKey({
        tenantId: other,
        keyId: key.id,
        successor: newKey(other),
        revokeAt: at(HOUR),
        maxActive: MAX,
        maxDeprecated: MAX_DEPRECATED,
        now: NOW,
      });
      expect(rot).toEqual({ ok: false, reason: "not_found" });
      expect(await store.getKey(t, key.id)).toEqual(key);
      expect(await activeIds(other)).toEqual([]);
    });

    it("refuses a second key with the same token hash (and it is not an outage)", async () => {
      const first = await insertOk(newKey(tenant()));
      const dup = newKey(tenant(), { tokenHash: first.tokenHash });
      const err = await store.insertKey(dup, MAX).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(Error);
      expect(err).not.toBeInstanceOf(StoreUnavailableError);
      expect(await store.findKeyByHash(first.tokenHash)).toEqual(first);
      expect(await store.getKey(dup.tenantId, dup.id)).toBeNull();
    });
  });

  describe("keys: the active-keys limit", () => {
    it(`allows ${MAX} active keys per tenant, then answers limit; other tenants are unaffected`, async () => {
      const t = tenant();
      for (let i = 0; i < MAX; i++) await insertOk(newKey(t));
      const extra = newKey(t);
      expect(await store.insertKey(extra, MAX)).toEqual({ ok: false, reason: "limit" });
      expect(await store.getKey(t, extra.id)).toBeNull();
      await insertOk(newKey(tenant()));
    });

    it("lets exactly 3 of 50 concurrent insertKey calls through", async () => {
      const t = tenant();
      const results = await Promise.all(Array.from({ length: 50 }, () => store.insertKey(newKey(t), MAX)));
      expect(results.filter((r) => r.ok)).toHaveLength(MAX);
      expect(results.filter((r) => !r.ok).every((r) => !r.ok && r.reason === "limit")).toBe(true);
      expect(await activeIds(t)).toHaveLength(MAX);
    });

    it("does not count deprecated or revoked keys", async () => {
      const t = tenant();
      const [k1, k2, k3] = [await insertOk(newKey(t)), await insertOk(newKey(t)), await insertOk(newKey(t))];
      await store.revokeKey({ tenantId: t, keyId: k1!.id, revokedAt: at(HOUR) });
      await insertOk(newKey(t)); // k1 revoked frees its place
      const rot = await store.rotateKey({
        tenantId: t,
        keyId: k2!.id,
        successor: newKey(t),
        revokeAt: at(72 * HOUR),
        maxActive: MAX,
        maxDeprecated: MAX_DEPRECATED,
        now: NOW,
      });
      expect(rot.ok).toBe(true); // k2 deprecated, its successor active: still 3 active
      expect(await store.insertKey(newKey(t), MAX)).toEqual({ ok: false, reason: "limit" });
      await store.revokeKey({ tenantId: t, keyId: k3!.id, revokedAt: at(2 * HOUR) });
      await insertOk(newKey(t));
      expect(await activeIds(t)).toHaveLength(MAX);
    });
  });

  describe("keys: rotation", () => {
    it("deprecates the old key (revokeAt, rotatedToKeyId) and activates the successor (rotatedFromKeyId)", async () => {
      const t = tenant();
      const old = await insertOk(newKey(t));
      const successor = newKey(t, { rotatedFromKeyId: old.id });
      const revokeAt = at(72 * HOUR);
      const r = await store.rotateKey({
        tenantId: t,
        keyId: old.id,
        successor,
        revokeAt,
        maxActive: MAX,
        maxDeprecated: MAX_DEPRECATED,
        now: NOW,
      });
      const previous = { ...old, status: "deprecated", revokeAt, rotatedToKeyId: successor.id };
      const key = { ...successor, status: "active", rotatedFromKeyId: old.id };
      expect(r).toEqual({ ok: true, previous, key });
      expect(await store.getKey(t, old.id)).toEqual(previous);
      expect(await store.findKeyByHash(old.tokenHash)).toEqual(previous);
      expect(await store.findKeyByHash(successor.tokenHash)).toEqual(key);
    });

    it("rotates a key at the limit (the count is unchanged)", async () => {
      const t = tenant();
      const keys = [await insertOk(newKey(t)), await insertOk(newKey(t)), await insertOk(newKey(t))];
      const r = await store.rotateKey({
        tenantId: t,
        keyId: keys[0]!.id,
        successor: newKey(t),
        revokeAt: at(HOUR),
        maxActive: MAX,
        maxDeprecated: MAX_DEPRECATED,
        now: NOW,
      });
      expect(r.ok).toBe(true);
      expect(await activeIds(t)).toHaveLength(MAX);
    });

    it("lets exactly one of 10 concurrent rotations of one key succeed", async () => {
      const t = tenant();
      const old = await insertOk(newKey(t));
      await insertOk(newKey(t));
      await insertOk(newKey(t));
      const successors = Array.from({ length: 10 }, () => newKey(t));
      const results = await Promise.all(
        successors.map((successor) =>
          store.rotateKey({
            tenantId: t,
            keyId: old.id,
            successor,
            revokeAt: at(HOUR),
            maxActive: MAX,
            maxDeprecated: MAX_DEPRECATED,
            now: NOW,
          }),
        ),
      );
      const winners = results.flatMap((r, i) => (r.ok ? [successors[i]!] : []));
      expect(winners).toHaveLength(1);
      for (const r of results) if (!r.ok) expect(r.reason).toBe("not_active");
      for (const s of successors) expect((await store.getKey(t, s.id)) !== null).toBe(s === winners[0]);
      expect((await store.getKey(t, old.id))!.rotatedToKeyId).toBe(winners[0]!.id);
      expect(await activeIds(t)).toHaveLength(MAX);
    });

    it("answers not_active for a deprecated or revoked key, not_found for an unknown one", async () => {
      const t = tenant();
      const k = await insertOk(newKey(t));
      await store.rotateKey({
        tenantId: t,
        keyId: k.id,
        successor: newKey(t),
        revokeAt: at(HOUR),
        maxActive: MAX,
        maxDeprecated: MAX_DEPRECATED,
        now: NOW,
      });
      const rotateAgain = (keyId: string) =>
        store.rotateKey({
          tenantId: t,
          keyId,
          successor: newKey(t),
          revokeAt: at(HOUR),
          maxActive: MAX,
          maxDeprecated: MAX_DEPRECATED,
          now: NOW,
        });
      expect(await rotateAgain(k.id)).toEqual({ ok: false, reason: "not_active" });
      const r = await insertOk(newKey(t));
      await store.revokeKey({ tenantId: t, keyId: r.id, revokedAt: at(HOUR) });
      expect(await rotateAgain(r.id)).toEqual({ ok: false, reason: "not_active" });
      expect(await rotateAgain(newKeyId())).toEqual({ ok: false, reason: "not_found" });
    });

    for (const start of [2, 3]) {
      it(`never leaves more than 3 active keys when rotations race creations (${start} active at start)`, async () => {
        for (let round = 0; round < 5; round++) {
          const t = tenant();
          const initial: KeyRecord[] = [];
          for (let i = 0; i < start; i++) initial.push(await insertOk(newKey(t)));
          const successor = newKey(t);
          const [rot] = await Promise.all([
            store.rotateKey({
              tenantId: t,
              keyId: initial[0]!.id,
              successor,
              revokeAt: at(HOUR),
              maxActive: MAX,
              maxDeprecated: MAX_DEPRECATED,
              now: NOW,
            }),
            ...Array.from({ length: 5 }, () => store.insertKey(newKey(t), MAX)),
          ]);
          expect((await activeIds(t)).length).toBeLessThanOrEqual(MAX);
          const old = await store.getKey(t, initial[0]!.id);
          if (rot!.ok) {
            expect((await store.getKey(t, successor.id))!.status).toBe("active");
            expect(old!.status).toBe("deprecated");
            expect(old!.rotatedToKeyId).toBe(successor.id);
          } else {
            // The only acceptable failure: creations took the place (the domain answers RESOURCE_EXHAUSTED).
            expect(rot!.reason).toBe("limit");
            expect(await store.getKey(t, successor.id)).toBeNull();
            expect(old!.rotatedToKeyId).toBeUndefined();
          }
        }
      });
    }
  });

  describe("keys: the deprecated-keys limit (keys in their grace)", () => {
    /** A tenant with `n` active keys (maxActive raised so more than 3 rotations can race). */
    async function tenantWith(n: number): Promise<{ t: string; keys: KeyRecord[] }> {
      const t = tenant();
      const keys: KeyRecord[] = [];
      for (let i = 0; i < n; i++) {
        const r = await store.insertKey(newKey(t), n);
        if (!r.ok) throw new Error("insert refused");
        keys.push(r.key);
      }
      return { t, keys };
    }
    const rotate = (
      t: string,
      keyId: string,
      over: { successor?: KeyRecord; now?: Date; revokeAt?: Date; maxActive?: number } = {},
    ) =>
      store.rotateKey({
        tenantId: t,
        keyId,
        successor: over.successor ?? newKey(t),
        revokeAt: over.revokeAt ?? at(72 * HOUR),
        maxActive: over.maxActive ?? MAX,
        maxDeprecated: MAX_DEPRECATED,
        now: over.now ?? NOW,
      });
    const deprecatedIds = async (t: string) =>
      (await store.listKeys(t, 1000)).filter((k) => k.status === "deprecated").map((k) => k.id);

    it(`allows ${MAX_DEPRECATED} deprecated keys in grace, then answers deprecated_limit and changes nothing`, async () => {
      const t = tenant();
      let current = await insertOk(newKey(t));
      for (let i = 0; i < MAX_DEPRECATED; i++) {
        const successor = newKey(t);
        const r = await rotate(t, current.id, { successor });
        expect(r.ok).toBe(true);
        current = (await store.getKey(t, successor.id))!;
      }
      const before = await store.listKeys(t, 1000);
      const successor = newKey(t);
      expect(await rotate(t, current.id, { successor })).toEqual({ ok: false, reason: "deprecated_limit" });
      expect(await store.getKey(t, successor.id)).toBeNull();
      expect(await store.getKey(t, current.id)).toEqual(current); // still active, untouched
      expect(await store.listKeys(t, 1000)).toEqual(before);
      // Another tenant is unaffected; a key that is not active still answers not_active first.
      const other = await insertOk(newKey(tenant()));
      expect((await rotate(other.tenantId, other.id)).ok).toBe(true);
      const oldest = before.find((k) => k.status === "deprecated")!;
      expect(await rotate(t, oldest.id)).toEqual({ ok: false, reason: "not_active" });
    });

    it("frees a place when a deprecated key is revoked, or once its grace has ended (swept or not)", async () => {
      const { t, keys } = await tenantWith(6);
      // Three deprecated keys whose grace ends at 1 h, 2 h and 3 h.
      for (let i = 0; i < 3; i++)
        expect((await rotate(t, keys[i]!.id, { revokeAt: at((i + 1) * HOUR), maxActive: 6 })).ok).toBe(true);
      expect(await rotate(t, keys[3]!.id, { maxActive: 6 })).toEqual({ ok: false, reason: "deprecated_limit" });
      // Revoking one frees its place.
      await store.revokeKey({ tenantId: t, keyId: keys[1]!.id, revokedAt: at(1) });
      expect((await rotate(t, keys[3]!.id, { revokeAt: at(4 * HOUR), maxActive: 6 })).ok).toBe(true);
      expect(await rotate(t, keys[4]!.id, { maxActive: 6 })).toEqual({ ok: false, reason: "deprecated_limit" });
      // At 1 h the first one's grace has ended: it no longer counts, though no sweep has run.
      expect(await rotate(t, keys[4]!.id, { now: at(HOUR - 1), maxActive: 6 })).toEqual({
        ok: false,
        reason: "deprecated_limit",
      });
      expect((await rotate(t, keys[4]!.id, { now: at(HOUR), revokeAt: at(5 * HOUR), maxActive: 6 })).ok).toBe(true);
      // After the sweep stored the 3 h one as revoked, its place is free too.
      expect(await sweep(store, at(3 * HOUR))).toBeGreaterThanOrEqual(1);
      expect((await rotate(t, keys[5]!.id, { now: at(3 * HOUR), maxActive: 6 })).ok).toBe(true);
      const live = (await store.listKeys(t, 1000)).filter(
        (k) => k.status === "deprecated" && k.revokeAt! > at(3 * HOUR),
      );
      expect(live).toHaveLength(MAX_DEPRECATED);
    });

    it(`lets exactly ${MAX_DEPRECATED} of 8 concurrent rotations of different keys through`, async () => {
      for (let round = 0; round < 3; round++) {
        const { t, keys } = await tenantWith(8);
        const successors = keys.map(() => newKey(t));
        const results = await Promise.all(
          keys.map((k, i) => rotate(t, k.id, { successor: successors[i]!, maxActive: 8 })),
        );
        expect(results.filter((r) => r.ok)).toHaveLength(MAX_DEPRECATED);
        for (const [i, r] of results.entries()) {
          if (r.ok) continue;
          expect(r.reason).toBe("deprecated_limit");
          expect(await store.getKey(t, successors[i]!.id)).toBeNull();
          expect((await store.getKey(t, keys[i]!.id))!.status).toBe("active");
        }
        expect(await deprecatedIds(t)).toHaveLength(MAX_DEPRECATED);
        expect(await activeIds(t)).toHaveLength(8);
      }
    });

    it("holds the limit when rotations race revokes of deprecated keys", async () => {
      for (let round = 0; round < 3; round++) {
        const { t, keys } = await tenantWith(8);
        for (let i = 0; i < 3; i++) expect((await rotate(t, keys[i]!.id, { maxActive: 8 })).ok).toBe(true);
        const results = await Promise.all([
          ...keys.slice(3).map((k) => rotate(t, k.id, { maxActive: 8 })),
          store.revokeKey({ tenantId: t, keyId: keys[0]!.id, revokedAt: at(1) }).then(() => null),
        ]);
        const rotated = results.filter((r) => r !== null && r.ok).length;
        expect(rotated).toBeLessThanOrEqual(1);
        expect((await deprecatedIds(t)).length).toBeLessThanOrEqual(MAX_DEPRECATED);
        expect(await deprecatedIds(t)).toHaveLength(2 + rotated);
      }
    });
  });

  describe("keys: revocation and the sweep", () => {
    it("revokes a key once: a second revoke returns the identical record", async () => {
      const t = tenant();
      const k = await insertOk(newKey(t));
      const first = await store.revokeKey({ tenantId: t, keyId: k.id, revokedAt: at(HOUR), revokedBy: "user:alice" });
      expect(first).toEqual({ ...k, status: "revoked", revokedAt: at(HOUR), revokedBy: "user:alice" });
      const second = await store.revokeKey({
        tenantId: t,
        keyId: k.id,
        revokedAt: at(2 * HOUR),
        revokedBy: "user:bob",
      });
      expect(second).toEqual(first);
      expect(await store.getKey(t, k.id)).toEqual(first);
      expect(await store.revokeKey({ tenantId: t, keyId: newKeyId(), revokedAt: at(HOUR) })).toBeNull();
    });

    it("stores an exposure in the revoking write; never on a key already revoked (issue 24)", async () => {
      const t = tenant();
      const k = await insertOk(newKey(t));
      const exposure = {
        type: "warpflow_api_key",
        source: "content",
        url: "https://github.com/octo/repo/blob/abc/.env",
        reportedAt: at(HOUR),
      };
      const revoked = await store.revokeKey({
        tenantId: t,
        keyId: k.id,
        revokedAt: at(HOUR),
        revokedBy: "system:secret-scanning",
        exposure,
      });
      expect(revoked).toEqual({
        ...k,
        status: "revoked",
        revokedAt: at(HOUR),
        revokedBy: "system:secret-scanning",
        exposure,
      });
      expect(await store.getKey(t, k.id)).toEqual(revoked);
      expect(await store.findKeyByHash(k.tokenHash)).toEqual(revoked);
      expect((await store.listKeys(t, 10)).find((x) => x.id === k.id)).toEqual(revoked);
      // The tenant's active slot was released, as by any revoke.
      for (let i = 0; i < MAX; i++) await insertOk(newKey(t));

      const other = await insertOk(newKey(tenant()));
      const plain = await store.revokeKey({ tenantId: other.tenantId, keyId: other.id, revokedAt: at(HOUR) });
      const late = await store.revokeKey({
        tenantId: other.tenantId,
        keyId: other.id,
        revokedAt: at(2 * HOUR),
        revokedBy: "system:secret-scanning",
        exposure,
      });
      expect(late).toEqual(plain);
      expect(late!.exposure).toBeUndefined();
    });

    it("revokes a deprecated key, keeping its rotation fields; revokedBy may be absent", async () => {
      const t = tenant();
      const k = await insertOk(newKey(t));
      const succ = newKey(t);
      await store.rotateKey({
        tenantId: t,
        keyId: k.id,
        successor: succ,
        revokeAt: at(72 * HOUR),
        maxActive: MAX,
        maxDeprecated: MAX_DEPRECATED,
        now: NOW,
      });
      const revoked = await store.revokeKey({ tenantId: t, keyId: k.id, revokedAt: at(HOUR) });
      expect(revoked).toEqual({
        ...k,
        status: "revoked",
        revokeAt: at(72 * HOUR),
        rotatedToKeyId: succ.id,
        revokedAt: at(HOUR),
      });
      expect(revoked!.revokedBy).toBeUndefined();
    });

    it("never un-revokes: rotate fails, the sweep and a later revoke leave it as it was", async () => {
      const t = tenant();
      const k = await insertOk(newKey(t));
      const revoked = await store.revokeKey({ tenantId: t, keyId: k.id, revokedAt: at(HOUR), revokedBy: "user:alice" });
      const rot = await store.rotateKey({
        tenantId: t,
        keyId: k.id,
        successor: newKey(t),
        revokeAt: at(HOUR),
        maxActive: MAX,
        maxDeprecated: MAX_DEPRECATED,
        now: NOW,
      });
      expect(rot).toEqual({ ok: false, reason: "not_active" });
      await sweep(store, at(1000 * HOUR));
      await store.revokeKey({ tenantId: t, keyId: k.id, revokedAt: at(5 * HOUR) });
      expect(await store.getKey(t, k.id)).toEqual(revoked);
    });

    it("sweeps only deprecated keys whose revokeAt <= now, storing revokedAt = revokeAt; idempotent", async () => {
      const t = tenant();
      const rotate = async (revokeAt: Date) => {
        const k = await insertOk(newKey(t));
        await store.rotateKey({
          tenantId: t,
          keyId: k.id,
          successor: newKey(t),
          revokeAt,
          maxActive: MAX,
          maxDeprecated: MAX_DEPRECATED,
          now: NOW,
        });
        const succ = (await store.getKey(t, k.id))!.rotatedToKeyId!;
        await store.revokeKey({ tenantId: t, keyId: succ, revokedAt: at(0) }); // keep the tenant under the limit
        return (await store.getKey(t, k.id))!;
      };
      const now = at(10 * HOUR);
      const expired = await rotate(at(9 * HOUR));
      const boundary = await rotate(now);
      const inGrace = await rotate(at(11 * HOUR));
      const active = await insertOk(newKey(t));
      expect(await sweep(store, now)).toBe(2);
      expect(await store.getKey(t, expired.id)).toEqual({ ...expired, status: "revoked", revokedAt: at(9 * HOUR) });
      expect(await store.getKey(t, boundary.id)).toEqual({ ...boundary, status: "revoked", revokedAt: now });
      expect(await store.getKey(t, inGrace.id)).toEqual(inGrace);
      expect(await store.getKey(t, active.id)).toEqual(active);
      expect(await sweep(store, now)).toBe(0);
      expect(await store.getKey(t, expired.id)).toEqual({ ...expired, status: "revoked", revokedAt: at(9 * HOUR) });
    });
  });

  describe("keys: last use, listing, usable keys", () => {
    it("records uses with $max semantics and ignores unknown key ids", async () => {
      const t = tenant();
      const a = await insertOk(newKey(t));
      const b = await insertOk(newKey(t));
      await store.recordKeyUses([]);
      // Uses seconds apart: a use within LAST_USED_COARSENESS_MS (1 s) of the stored one may be skipped.
      await store.recordKeyUses([
        { keyId: a.id, at: at(20_000) },
        { keyId: b.id, at: at(5_000) },
        { keyId: newKeyId(), at: at(7_000) },
      ]);
      await store.recordKeyUses([{ keyId: a.id, at: at(10_000) }]); // older: must not win
      expect((await store.getKey(t, a.id))!.lastUsedAt).toEqual(at(20_000));
      await store.recordKeyUses([{ keyId: a.id, at: at(30_000) }]);
      expect((await store.getKey(t, a.id))!.lastUsedAt).toEqual(at(30_000));
      expect((await store.getKey(t, b.id))!.lastUsedAt).toEqual(at(5_000));
      // Within the coarseness: stored or skipped, never backwards; beyond it: always stored.
      await store.recordKeyUses([{ keyId: a.id, at: at(30_500) }]);
      expect([at(30_000).getTime(), at(30_500).getTime()]).toContain(
        (await store.getKey(t, a.id))!.lastUsedAt!.getTime(),
      );
      await store.recordKeyUses([{ keyId: a.id, at: at(31_600) }]);
      expect((await store.getKey(t, a.id))!.lastUsedAt).toEqual(at(31_600));
      expect(await store.listKeys(t, 100)).toHaveLength(2);
    });

    it("lists a tenant's keys newest first: every non-revoked key, and at most `revokedLimit` revoked ones", async () => {
      const t = tenant();
      const created: KeyRecord[] = [];
      for (let i = 0; i < 3; i++) created.push(await insertOk(newKey(t)));
      await store.revokeKey({ tenantId: t, keyId: created[0]!.id, revokedAt: at(HOUR) });
      created.push(await insertOk(newKey(t)));
      await insertOk(newKey(tenant()));
      const listed = await store.listKeys(t, 100);
      expect(listed.map((k) => k.id)).toEqual(created.map((k) => k.id).reverse());
      expect(listed[3]!.status).toBe("revoked");
      expect((await store.listKeys(t, 0)).map((k) => k.id)).toEqual([created[3]!.id, created[2]!.id, created[1]!.id]);
      expect(await store.listKeys(tenant(), 100)).toEqual([]);
      listed.forEach(expectOnlyRecordFields);
    });

    it("never pushes an old active key out of the list, however much newer history there is", async () => {
      const t = tenant();
      const old = await insertOk(newKey(t));
      const revoked: string[] = [];
      for (let i = 0; i < 5; i++) {
        const k = await insertOk(newKey(t));
        await store.revokeKey({ tenantId: t, keyId: k.id, revokedAt: at(HOUR) });
        revoked.push(k.id);
      }
      const listed = await store.listKeys(t, 2);
      expect(listed.map((k) => k.id)).toEqual([revoked[4], revoked[3], old.id]);
    });

    it("knows whether a tenant has a usable key (active, or deprecated in its grace)", async () => {
      const t = tenant();
      const now = at(10 * HOUR);
      expect(await store.hasUsableKey(t, now)).toBe(false);
      const k = await insertOk(newKey(t));
      await insertOk(newKey(tenant()));
      expect(await store.hasUsableKey(t, now)).toBe(true);
      const succ = newKey(t);
      await store.rotateKey({
        tenantId: t,
        keyId: k.id,
        successor: succ,
        revokeAt: at(11 * HOUR),
        maxActive: MAX,
        maxDeprecated: MAX_DEPRECATED,
        now: NOW,
      });
      await store.revokeKey({ tenantId: t, keyId: succ.id, revokedAt: now });
      expect(await store.hasUsableKey(t, now)).toBe(true); // deprecated, grace not over
      expect(await store.hasUsableKey(t, at(11 * HOUR))).toBe(false); // grace over at revokeAt
      await store.revokeKey({ tenantId: t, keyId: k.id, revokedAt: now });
      expect(await store.hasUsableKey(t, now)).toBe(false);
    });
  });

  describe("scopes and IP allowlists (issue 22)", () => {
    it("round-trips a key's scopes and allowlist (insert, find by hash and id, list, revoke); a key without them has neither", async () => {
      const t = tenant();
      const scoped = newKey(t, {
        scopes: ["contacts:read", "deals.write"],
        allowedCidrs: ["10.0.0.0/8", "2001:db8::/32"],
      });
      const plain = newKey(t);
      expect(await store.insertKey(scoped, MAX)).toEqual({ ok: true, key: scoped });
      await insertOk(plain);
      expect(await store.findKeyByHash(scoped.tokenHash)).toEqual(scoped);
      expect(await store.getKey(t, scoped.id)).toEqual(scoped);
      const listed = await store.listKeys(t, 10);
      expect(listed.find((k) => k.id === scoped.id)).toEqual(scoped);
      const bare = (await store.findKeyByHash(plain.tokenHash))!;
      expect([bare.scopes, bare.allowedCidrs, "scopes" in bare, "allowedCidrs" in bare]).toEqual([
        undefined,
        undefined,
        false,
        false,
      ]);
      const revoked = await store.revokeKey({ tenantId: t, keyId: scoped.id, revokedAt: at(HOUR), revokedBy: "x" });
      expect([revoked!.scopes, revoked!.allowedCidrs]).toEqual([scoped.scopes, scoped.allowedCidrs]);
    });

    it("a rotation stores the successor's own scopes and allowlist and keeps the old key's", async () => {
      const t = tenant();
      const old = await insertOk(newKey(t, { scopes: ["a"], allowedCidrs: ["10.0.0.0/8"] }));
      const successor = newKey(t, { scopes: ["b", "c"], rotatedFromKeyId: old.id });
      const r = await store.rotateKey({
        tenantId: t,
        keyId: old.id,
        successor,
        revokeAt: at(72 * HOUR),
        maxActive: MAX,
        maxDeprecated: MAX_DEPRECATED,
        now: NOW,
      });
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      expect([r.key.scopes, r.key.allowedCidrs, r.previous.scopes, r.previous.allowedCidrs]).toEqual([
        ["b", "c"],
        undefined,
        ["a"],
        ["10.0.0.0/8"],
      ]);
      expect((await store.findKeyByHash(successor.tokenHash))!.scopes).toEqual(["b", "c"]);
      expect((await store.findKeyByHash(old.tokenHash))!.allowedCidrs).toEqual(["10.0.0.0/8"]);
    });

    it("round-trips a session's scopes; a session without them has none", async () => {
      const scoped = { ...newSession(tenant(), at(HOUR)), scopes: ["reports:read"] };
      const plain = newSession(tenant(), at(HOUR));
      await store.insertSession(scoped);
      await store.insertSession(plain);
      expect(await store.findSessionByHash(scoped.tokenHash)).toEqual(scoped);
      expect("scopes" in (await store.findSessionByHash(plain.tokenHash))!).toBe(false);
      const revoked = await store.revokeSession({
        tenantId: scoped.tenantId,
        sessionId: scoped.id,
        revokedAt: at(1),
        revokedBy: "x",
      });
      expect(revoked!.scopes).toEqual(["reports:read"]);
    });
  });

  describe("sessions", () => {
    it("round-trips a session by token hash; unknown hash -> null", async () => {
      const s = newSession(tenant(), at(HOUR));
      await store.insertSession(s);
      expect(await store.findSessionByHash(s.tokenHash)).toEqual(s);
      expect(await store.findSessionByHash(hash())).toBeNull();
    });

    it("refuses a second session with the same token hash", async () => {
      const s = newSession(tenant(), at(HOUR));
      await store.insertSession(s);
      await expect(
        store.insertSession({ ...newSession(s.tenantId, at(2 * HOUR)), tokenHash: s.tokenHash }),
      ).rejects.toThrow();
      expect(await store.findSessionByHash(s.tokenHash)).toEqual(s);
    });

    it("deletes sessions whose expiresAt <= now, and only those", async () => {
      const t = tenant();
      const gone = [newSession(t, at(HOUR)), newSession(t, at(2 * HOUR))];
      const kept = newSession(t, at(2 * HOUR + 1));
      for (const s of [...gone, kept]) await store.insertSession(s);
      expect(await store.deleteExpiredSessions(at(2 * HOUR))).toBe(2);
      for (const s of gone) expect(await store.findSessionByHash(s.tokenHash)).toBeNull();
      expect(await store.findSessionByHash(kept.tokenHash)).toEqual(kept);
      expect(await store.deleteExpiredSessions(at(2 * HOUR))).toBe(0);
    });
  });

  describe("sessions: revocation", () => {
    it("revokes one session of its tenant; twice answers the same record; another tenant's is null", async () => {
      const t = tenant();
      const s = newSession(t, at(2 * HOUR));
      const other = newSession(t, at(2 * HOUR));
      await store.insertSession(s);
      await store.insertSession(other);
      expect(
        await store.revokeSession({ tenantId: tenant(), sessionId: s.id, revokedAt: at(HOUR), revokedBy: "mallory" }),
      ).toBeNull();
      const revoked = await store.revokeSession({
        tenantId: t,
        sessionId: s.id,
        revokedAt: at(HOUR),
        revokedBy: "key_a",
      });
      expect(revoked).toEqual({ ...s, revokedAt: at(HOUR), revokedBy: "key_a" });
      expect(
        await store.revokeSession({ tenantId: t, sessionId: s.id, revokedAt: at(HOUR + 5), revokedBy: "key_b" }),
      ).toEqual(revoked);
      expect(await store.findSessionByHash(s.tokenHash)).toEqual(revoked);
      expect(await store.findSessionByHash(other.tokenHash)).toEqual(other);
      expect(
        await store.revokeSession({ tenantId: t, sessionId: newSessionId(), revokedAt: at(HOUR), revokedBy: "x" }),
      ).toBeNull();
    });

    it("revokes every live session of a tenant at once and counts them; expired, revoked and other tenants' are untouched", async () => {
      const t = tenant();
      const live = [newSession(t, at(2 * HOUR)), newSession(t, at(3 * HOUR))];
      const expired = newSession(t, at(HOUR));
      const already = newSession(t, at(2 * HOUR));
      const foreign = newSession(tenant(), at(2 * HOUR));
      for (const s of [...live, expired, already, foreign]) await store.insertSession(s);
      await store.revokeSession({ tenantId: t, sessionId: already.id, revokedAt: at(HOUR / 2), revokedBy: "first" });
      expect(await store.revokeTenantSessions({ tenantId: t, revokedAt: at(HOUR), revokedBy: "key_ir" })).toBe(2);
      for (const s of live)
        expect(await store.findSessionByHash(s.tokenHash)).toEqual({ ...s, revokedAt: at(HOUR), revokedBy: "key_ir" });
      expect(await store.findSessionByHash(expired.tokenHash)).toEqual(expired);
      expect((await store.findSessionByHash(already.tokenHash))!.revokedBy).toBe("first");
      expect(await store.findSessionByHash(foreign.tokenHash)).toEqual(foreign);
      // A session created afterwards is unaffected; a second call finds nothing left.
      const later = newSession(t, at(4 * HOUR));
      await store.insertSession(later);
      expect(await store.findSessionByHash(later.tokenHash)).toEqual(later);
      expect(await store.revokeTenantSessions({ tenantId: tenant(), revokedAt: at(HOUR), revokedBy: "x" })).toBe(0);
    });

    it("leaves a session created after the revoke time alone, even one stored before the revoke runs (created by another instance during it)", async () => {
      const t = tenant();
      const before = { ...newSession(t, at(3 * HOUR)), createdAt: at(HOUR) }; // created at the revoke time: revoked
      const during = { ...newSession(t, at(3 * HOUR)), createdAt: at(HOUR + 1) };
      await store.insertSession(before);
      await store.insertSession(during);
      expect(await store.revokeTenantSessions({ tenantId: t, revokedAt: at(HOUR), revokedBy: "key_ir" })).toBe(1);
      expect((await store.findSessionByHash(before.tokenHash))!.revokedAt).toEqual(at(HOUR));
      expect(await store.findSessionByHash(during.tokenHash)).toEqual(during);
      // A later call (a retry, a new revoke) takes it.
      expect(await store.revokeTenantSessions({ tenantId: t, revokedAt: at(HOUR + 2), revokedBy: "key_ir" })).toBe(1);
    });
  });

  describe("keys: expired grace periods", () => {
    it("finds deprecated keys whose revokeAt <= now, oldest first, at most `limit`; none once revoked", async () => {
      const t = tenant();
      const rotate = async (revokeAt: Date) => {
        const k = await insertOk(newKey(t));
        // Rotated an hour before its grace ends (as a real rotation always is, 72 h before).
        const now = new Date(revokeAt.getTime() - HOUR);
        await store.rotateKey({
          tenantId: t,
          keyId: k.id,
          successor: newKey(t),
          revokeAt,
          maxActive: MAX,
          maxDeprecated: MAX_DEPRECATED,
          now,
        });
        const succ = (await store.getKey(t, k.id))!.rotatedToKeyId!;
        await store.revokeKey({ tenantId: t, keyId: succ, revokedAt: at(0) });
        return (await store.getKey(t, k.id))!;
      };
      const now = at(10 * HOUR);
      const later = await rotate(at(9 * HOUR));
      const boundary = await rotate(now);
      const earlier = await rotate(at(8 * HOUR));
      await rotate(at(11 * HOUR)); // in grace
      const mine = (keys: KeyRecord[]) => keys.filter((k) => k.tenantId === t);
      expect(mine(await store.findExpiredKeys(now, 100))).toEqual([earlier, later, boundary]);
      expect(await store.findExpiredKeys(now, 1)).toHaveLength(1);
      await store.revokeKey({ tenantId: t, keyId: earlier.id, revokedAt: earlier.revokeAt! });
      expect(mine(await store.findExpiredKeys(now, 100)).map((k) => k.id)).toEqual([later.id, boundary.id]);
    });
  });

  keyLifecycleContract(() => store); // issue 22
  sessionCreatorContract(() => store); // RevokeKey of an admin key

  describe("audit events", () => {
    const event = (tenantId: string, time: Date, over: Partial<AuditEvent> = {}): AuditEvent => ({
      id: newAuditEventId(time),
      time,
      action: "key.create",
      outcome: "ok",
      code: "OK",
      actor: { kind: "admin_key", id: newKeyId(), tenantId: "admin" },
      tenantId,
      ...over,
    });

    it("round-trips every field; lists a tenant's events newest first; absent fields stay absent", async () => {
      const t = tenant();
      const full = event(t, at(1000), {
        action: "session.revoke",
        outcome: "failed",
        code: "NOT_FOUND",
        actor: { kind: "cognito_user", id: "sub-1", tenantId: t },
        keyId: newKeyId(),
        sessionId: newSessionId(),
        peer: "10.0.0.7:51234",
        userAgent: "grpc-node-js/1.14.7",
        protocol: "grpc",
        detail: "session_id: no session",
        count: 1234,
        firstTime: at(500),
      });
      const bare = event(t, at(2000));
      expect(await store.appendAuditEvent(full)).toBe(true);
      expect(await store.appendAuditEvent(bare)).toBe(true);
      await store.appendAuditEvent(event(tenant(), at(3000)));
      const listed = await store.listAuditEvents({ tenantId: t, limit: 10 });
      expect(listed).toEqual([bare, full]);
      expect(listed[1]!.time).toBeInstanceOf(Date);
      expect(Object.keys(listed[0]!).sort()).toEqual(["action", "actor", "code", "id", "outcome", "tenantId", "time"]);
    });

    it("filters by action and by [since, until), and pages with a cursor (ids below it)", async () => {
      const t = tenant();
      const events = Array.from({ length: 9 }, (_, i) =>
        event(t, at(i * 1000), { action: i % 3 === 0 ? "key.revoke" : "key.create" }),
      );
      for (const e of [...events].reverse()) await store.appendAuditEvent(e); // insertion order does not matter
      const ids = (es: AuditEvent[]) => es.map((e) => e.id);
      const newestFirst = [...events].reverse();
      expect(ids(await store.listAuditEvents({ tenantId: t, limit: 100 }))).toEqual(ids(newestFirst));
      expect(ids(await store.listAuditEvents({ tenantId: t, action: "key.revoke", limit: 100 }))).toEqual(
        ids([events[6]!, events[3]!, events[0]!]),
      );
      expect(ids(await store.listAuditEvents({ tenantId: t, since: at(2000), until: at(5000), limit: 100 }))).toEqual(
        ids([events[4]!, events[3]!, events[2]!]),
      );
      const page1 = await store.listAuditEvents({ tenantId: t, limit: 4 });
      const page2 = await store.listAuditEvents({ tenantId: t, limit: 4, beforeId: page1.at(-1)!.id });
      const page3 = await store.listAuditEvents({ tenantId: t, limit: 4, beforeId: page2.at(-1)!.id });
      expect(ids([...page1, ...page2, ...page3])).toEqual(ids(newestFirst));
      expect(
        ids(await store.listAuditEvents({ tenantId: t, action: "key.create", beforeId: events[5]!.id, limit: 2 })),
      ).toEqual(ids([events[4]!, events[2]!]));
    });

    it("pages stay stable while new events are written: nothing skipped, nothing repeated", async () => {
      const t = tenant();
      const before = Array.from({ length: 12 }, (_, i) => event(t, at(i * 10)));
      for (const e of before) await store.appendAuditEvent(e);
      const seen: string[] = [];
      let cursor: string | undefined;
      for (let round = 0; ; round++) {
        const page = await store.listAuditEvents({ tenantId: t, limit: 5, beforeId: cursor });
        seen.push(...page.map((e) => e.id));
        // Writers keep going between pages (newer events, some at the very same instant).
        await Promise.all([
          store.appendAuditEvent(event(t, at(10_000 + round))),
          store.appendAuditEvent(event(t, at(110))),
        ]);
        if (page.length < 5) break;
        cursor = page.at(-1)!.id;
      }
      const expected = before.map((e) => e.id).reverse();
      expect(seen.filter((id) => expected.includes(id))).toEqual(expected);
      expect(new Set(seen).size).toBe(seen.length);
    });

    it("completes a pending event once; a finished event never changes", async () => {
      const t = tenant();
      const pending = event(t, at(1000), { outcome: "pending", code: "" });
      await store.appendAuditEvent(pending);
      expect((await store.listAuditEvents({ tenantId: t, limit: 1 }))[0]).toEqual(pending);
      const keyId = newKeyId();
      await store.completeAuditEvent(pending.id, { outcome: "ok", code: "OK", keyId, detail: "created" });
      const done = { ...pending, outcome: "ok", code: "OK", keyId, detail: "created" };
      expect((await store.listAuditEvents({ tenantId: t, limit: 1 }))[0]).toEqual(done);
      await store.completeAuditEvent(pending.id, { outcome: "failed", code: "UNAVAILABLE" });
      expect((await store.listAuditEvents({ tenantId: t, limit: 1 }))[0]).toEqual(done);
      await store.completeAuditEvent(newAuditEventId(at(5)), { outcome: "ok", code: "OK" }); // unknown: nothing happens
    });

    it("stores at most one event per dedupe key, whoever writes it (concurrent writers: exactly one wins)", async () => {
      const t = tenant();
      const dedupeKey = `key.grace_expired:${newKeyId()}`;
      const attempts = Array.from({ length: 8 }, (_, i) =>
        event(t, at(1000 + i), { action: "key.grace_expired", dedupeKey }),
      );
      const results = await Promise.all(attempts.map((e) => store.appendAuditEvent(e)));
      expect(results.filter(Boolean)).toHaveLength(1);
      const stored = await store.listAuditEvents({ tenantId: t, limit: 100 });
      expect(stored).toEqual([attempts[results.indexOf(true)]]);
      expect(await store.appendAuditEvent(event(t, at(5000), { dedupeKey: `other:${newKeyId()}` }))).toBe(true);
    });
  });

  describe("tenant policy", () => {
    it("is null until set, then what was set; a later set overwrites it", async () => {
      const t = tenant();
      expect(await store.getPolicy(t)).toBeNull();
      const p1 = { tenantId: t, hipaaEnabled: true, updatedAt: at(HOUR), updatedBy: "user:alice" };
      expect(await store.setPolicy(p1)).toEqual(p1);
      expect(await store.getPolicy(t)).toEqual(p1);
      const p2 = { tenantId: t, hipaaEnabled: false };
      expect(await store.setPolicy(p2)).toEqual(p2);
      expect(await store.getPolicy(t)).toEqual(p2);
      expect(await store.getPolicy(tenant())).toBeNull();
    });
  });

  describe("leases (the admin bootstrap's claim)", () => {
    const lease = () => `lease-${randomBytes(4).toString("hex")}`;
    it("lets exactly one of 20 concurrent claimants take a free lease", async () => {
      const name = lease();
      const won = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          store.claimLease({ name, holder: `h${i}`, now: at(0), until: at(60_000) }),
        ),
      );
      expect(won.filter(Boolean)).toHaveLength(1);
    });

    it("refuses others while it runs; renews for its holder; is free once expired or released (and only its holder releases it)", async () => {
      const name = lease();
      expect(await store.claimLease({ name, holder: "a", now: at(0), until: at(10_000) })).toBe(true);
      expect(await store.claimLease({ name, holder: "b", now: at(5_000), until: at(15_000) })).toBe(false);
      expect(await store.claimLease({ name, holder: "a", now: at(9_000), until: at(20_000) })).toBe(true); // renewed to 20 s
      expect(await store.claimLease({ name, holder: "b", now: at(15_000), until: at(25_000) })).toBe(false);
      expect(await store.claimLease({ name, holder: "b", now: at(20_000), until: at(30_000) })).toBe(true); // a's expired
      await store.releaseLease({ name, holder: "a" }); // not a's any more: no effect
      expect(await store.claimLease({ name, holder: "c", now: at(21_000), until: at(31_000) })).toBe(false);
      await store.releaseLease({ name, holder: "b" });
      expect(await store.claimLease({ name, holder: "c", now: at(21_000), until: at(31_000) })).toBe(true);
      expect(await store.claimLease({ name: lease(), holder: "b", now: at(21_000), until: at(31_000) })).toBe(true); // names are independent
    });

    it("five instances bootstrapping at once on this store end with exactly one admin key and one saved key", async () => {
      const { outcomes, saved } = await bootstrapAtOnce([store, store, store, store, store], { saveDelayMs: 50 });
      expect(outcomes.filter((o) => o.kind === "created")).toHaveLength(1);
      expect(saved).toHaveLength(1);
      const admin = (await store.listKeys(ADMIN_TENANT_ID, 0)).filter((k) => k.status === "active");
      expect(admin.map((k) => k.tokenHash)).toEqual([hashToken(saved[0]!)]);
    });
  });

  describe("health", () => {
    it("answers ping while it can serve", async () => {
      await expect(store.ping()).resolves.toBeUndefined();
    });
  });
}
