import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMemoryTokenStore } from "../../src/adapters/memory/memory-token-store.js";
import { DomainError } from "../../src/domain/errors.js";
import {
  effectiveStatus,
  MAX_ACTIVE_KEYS_PER_TENANT,
  MAX_DEPRECATED_KEYS_PER_TENANT,
  newKeyId,
} from "../../src/domain/key-rules.js";
import type { KeyRecord } from "../../src/domain/records.js";
import { generateToken } from "../../src/domain/token-format.js";
import { hashToken } from "../../src/domain/token-hash.js";
import type { TokenStore } from "../../src/ports/token-store.js";
import { createDomain } from "../support/domain.js";
import { createFaultyStore } from "../support/faulty-store.js";
import { obtainMongo, openMongoStore, sayMongoSkipped, uniqueDbName } from "../support/mongo.js";
import { startTestApp, type TestApp } from "../support/test-app.js";
import { codeOf, domainCodeOf, grpcCodeName } from "../support/codes.js";
import { sleep, turnsUntil } from "../support/poll.js";

/**
 * Races on key lifecycle: the active-key limit, one winner per rotation, rotate against revoke.
 * Each race runs end to end over gRPC and at the domain level on a store whose every call is
 * delayed by a random 0-3 ms (so the interleavings differ from run to run). A monitor re-reads the
 * tenant after every write and remembers the most active keys it ever saw.
 * Legs: the memory store always; MongoDB when test/support/mongo.ts can get one.
 */
interface Leg {
  name: string;
  /** Why the leg cannot run here (its tests are registered as skipped), or undefined. */
  skip?: string | undefined;
  open(): Promise<{ store: TokenStore; dispose(): Promise<void> }>;
}
const mongo = await obtainMongo();
if (!mongo.available) sayMongoSkipped(mongo.reason);
const legs: Leg[] = [
  { name: "memory", open: async () => ({ store: createMemoryTokenStore(), dispose: async () => undefined }) },
  mongo.available
    ? { name: `mongodb (${mongo.source})`, open: () => openMongoStore(mongo.uri, uniqueDbName("wf_races")) }
    : {
        name: `mongodb (SKIPPED: ${mongo.reason})`,
        skip: mongo.reason,
        open: () => Promise.reject(new Error(mongo.reason)),
      },
];
afterAll(async () => {
  if (mongo.available) await mongo.stop();
});

/** Wraps a store: after every key write, counts the tenant's active keys and keeps the maximum. */
function monitorActive(inner: TokenStore) {
  const maxActive = new Map<string, number>();
  const check = async (tenantId: string) => {
    const keys = await inner.listKeys(tenantId, 1000);
    const n = keys.filter((k) => effectiveStatus(k, new Date()) === "active").length;
    maxActive.set(tenantId, Math.max(maxActive.get(tenantId) ?? 0, n));
  };
  const store: TokenStore = {
    ...inner,
    insertKey: async (key, max) => {
      const r = await inner.insertKey(key, max);
      await check(key.tenantId);
      return r;
    },
    rotateKey: async (args) => {
      const r = await inner.rotateKey(args);
      await check(args.tenantId);
      return r;
    },
    revokeKey: async (args) => {
      const r = await inner.revokeKey(args);
      await check(args.tenantId);
      return r;
    },
  };
  // Bind every other method to the inner store (spread copies own properties of the object).
  for (const k of Object.keys(inner) as (keyof TokenStore)[]) {
    if (!["insertKey", "rotateKey", "revokeKey"].includes(k))
      (store as unknown as Record<string, unknown>)[k] = (inner[k] as (...a: unknown[]) => unknown).bind(inner);
  }
  return { store, maxActive };
}

const jitter = () => Math.floor(Math.random() * 4);
const count = (xs: string[], x: string) => xs.filter((y) => y === x).length;

for (const leg of legs) describe.skipIf(leg.skip !== undefined)(`races on ${leg.name}`, () => racesOn(leg));

function racesOn(leg: Leg) {
  let t: TestApp;
  let opened: Awaited<ReturnType<Leg["open"]>>;
  let monitor: ReturnType<typeof monitorActive>;
  beforeAll(async () => {
    opened = await leg.open();
    monitor = monitorActive(opened.store);
    t = await startTestApp({ store: monitor.store, logLevel: "warn" });
  });
  afterAll(async () => {
    await t?.close();
    await opened?.dispose().catch(() => undefined);
  });
  const admin = () => ({ bearer: t.adminKey });

  /**
   * Races inside the store: many calls started in the same turn, so each adapter's check and write
   * interleave with the others' (a yield between the memory store's limit check and its insert, or
   * a MongoDB read-then-write, lets more than 3 in). The gRPC and domain races below reach the store
   * one call per event-loop turn and would not catch that.
   */
  const keyRecord = (tenantId: string, label: string): KeyRecord => {
    const token = generateToken("api_key", tenantId);
    return {
      id: newKeyId(),
      tenantId,
      label,
      tokenHash: hashToken(token),
      hint: "h",
      status: "active",
      createdAt: new Date(),
      createdBy: "race",
    };
  };
  const activeIn = async (tenantId: string) =>
    (await opened.store.listKeys(tenantId, 1000)).filter((k) => k.status === "active").length;

  it("200 concurrent insertKey on the store itself: exactly 3 inserted, 197 refused for the limit", async () => {
    const tenantId = "race-store-insert";
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        opened.store.insertKey(keyRecord(tenantId, `k${i}`), MAX_ACTIVE_KEYS_PER_TENANT),
      ),
    );
    expect(results.filter((r) => r.ok)).toHaveLength(3);
    expect(results.filter((r) => !r.ok && r.reason === "limit")).toHaveLength(197);
    expect(await activeIn(tenantId)).toBe(3);
  });

  it("40 concurrent rotateKey of one key racing 20 insertKey on the store itself (tenant at 2 of 3): one rotation, never 4 active", async () => {
    const tenantId = "race-store-rotate";
    const first = keyRecord(tenantId, "first");
    expect((await opened.store.insertKey(first, MAX_ACTIVE_KEYS_PER_TENANT)).ok).toBe(true);
    expect((await opened.store.insertKey(keyRecord(tenantId, "second"), MAX_ACTIVE_KEYS_PER_TENANT)).ok).toBe(true);
    const revokeAt = new Date(Date.now() + 72 * 3600_000);
    const rotations = Array.from({ length: 40 }, () =>
      opened.store.rotateKey({
        tenantId,
        keyId: first.id,
        successor: { ...keyRecord(tenantId, "next"), rotatedFromKeyId: first.id },
        revokeAt,
        maxActive: MAX_ACTIVE_KEYS_PER_TENANT,
        maxDeprecated: MAX_DEPRECATED_KEYS_PER_TENANT,
        now: new Date(),
      }),
    );
    const inserts = Array.from({ length: 20 }, (_, i) =>
      opened.store.insertKey(keyRecord(tenantId, `extra${i}`), MAX_ACTIVE_KEYS_PER_TENANT),
    );
    const rotated = await Promise.all(rotations);
    const inserted = await Promise.all(inserts);
    const wins = rotated.filter((r) => r.ok);
    expect(wins.length).toBeLessThanOrEqual(1);
    for (const r of rotated) if (!r.ok) expect(["not_active", "limit"]).toContain(r.reason);
    // 2 active before; a rotation keeps the count; inserts fill up to 3 and no further.
    expect(inserted.filter((r) => r.ok)).toHaveLength(1);
    expect(await activeIn(tenantId)).toBe(3);
    const keys = await opened.store.listKeys(tenantId, 1000);
    expect(keys.filter((k) => k.rotatedFromKeyId === first.id)).toHaveLength(wins.length);
  });

  it("200 concurrent CreateKey for one tenant over gRPC: exactly 3 succeed", async () => {
    const codes = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        codeOf(t.grpc.createKey({ tenantId: "race-create", label: `k${i}` }, admin())),
      ),
    );
    expect(count(codes, "OK")).toBe(3);
    expect(count(codes, "RESOURCE_EXHAUSTED")).toBe(197);
    const keys = (await t.grpc.listKeys({ tenantId: "race-create" }, admin())).keys;
    expect(keys).toHaveLength(3);
    expect(monitor.maxActive.get("race-create")).toBe(3);
  });

  it("200 concurrent creates at the domain level on a jittery store: exactly 3 succeed", async () => {
    const faulty = createFaultyStore(monitor.store, { kind: "delay", ms: jitter });
    const d = createDomain({ store: faulty.store });
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        d.keys.create("race-create-d", `k${i}`, "t").then(
          (r) => r.token,
          (e: DomainError) => e.code,
        ),
      ),
    );
    const tokens = results.filter((r) => r.startsWith("wf_"));
    expect(tokens).toHaveLength(3);
    expect(count(results, "resource_exhausted")).toBe(197);
    for (const token of tokens) expect((await d.introspector.introspect(token)).active).toBe(true);
    expect(monitor.maxActive.get("race-create-d")).toBe(3);
    await d.lastUsed.close();
  });

  it.each([1, 3])("concurrent RotateKey of one key (tenant with %i active keys): exactly one succeeds", async (n) => {
    for (let round = 0; round < 3; round++) {
      const tenantId = `race-rot-${n}-${round}`;
      const created = [];
      for (let i = 0; i < n; i++) created.push(await t.grpc.createKey({ tenantId, label: `k${i}` }, admin()));
      const target = created[0]!;
      const results = await Promise.all(
        Array.from({ length: 40 }, () =>
          t.grpc.rotateKey({ tenantId, keyId: target.key!.id }, admin()).then((r) => r, grpcCodeName),
        ),
      );
      const winners = results.filter((r): r is Exclude<typeof r, string> => typeof r !== "string");
      expect(winners).toHaveLength(1);
      // Losers learn the key is no longer active (or that they raced): never INTERNAL, never OK.
      for (const r of results)
        if (typeof r === "string") expect(["FAILED_PRECONDITION", "RESOURCE_EXHAUSTED"]).toContain(r);
      const keys = (await t.grpc.listKeys({ tenantId }, admin())).keys;
      expect(keys).toHaveLength(n + 1);
      const successors = keys.filter((k) => k.rotatedFromKeyId === target.key!.id);
      expect(successors.map((k) => k.id)).toEqual([winners[0]!.key!.id]);
      expect(keys.find((k) => k.id === target.key!.id)?.rotatedToKeyId).toBe(winners[0]!.key!.id);
      expect(await t.grpc.introspect({ token: winners[0]!.token })).toMatchObject({ active: true, deprecated: false });
      expect(await t.grpc.introspect({ token: target.token })).toMatchObject({ active: true, deprecated: true });
      expect(monitor.maxActive.get(tenantId)).toBe(n);
    }
  });

  /**
   * Rotate racing revoke, on a tenant at the limit (3 active). Invariants after every round:
   * never more than 3 active (also as seen by the monitor during the round), the revoked key
   * never introspects active, and the successor exists if and only if the rotation said OK.
   */
  async function checkRound(opts: {
    tenantId: string;
    list: () => Promise<{ id: string; status: string; rotatedFromKeyId?: string | undefined }[]>;
    introspect: (token: string) => Promise<boolean>;
    target: { id: string; token: string };
    others: { id: string; token: string }[];
    rotated: { ok: true; id: string; token: string } | { ok: false; code: string };
    revokeCode: string;
  }) {
    const { target, rotated } = opts;
    expect(opts.revokeCode).toMatch(/^(OK|ok)$/); // revoking an existing key always succeeds
    const keys = await opts.list();
    const active = keys.filter((k) => k.status === "active");
    expect(active.length).toBeLessThanOrEqual(MAX_ACTIVE_KEYS_PER_TENANT);
    expect(monitor.maxActive.get(opts.tenantId) ?? 0).toBeLessThanOrEqual(MAX_ACTIVE_KEYS_PER_TENANT);
    expect(keys.find((k) => k.id === target.id)?.status).toBe("revoked");
    expect(await opts.introspect(target.token)).toBe(false);
    const successors = keys.filter((k) => k.rotatedFromKeyId === target.id);
    if (rotated.ok) {
      expect(successors.map((k) => k.id)).toEqual([rotated.id]);
      expect(successors[0]!.status).toBe("active");
      expect(await opts.introspect(rotated.token)).toBe(true);
    } else {
      expect(successors).toEqual([]);
      expect([
        "FAILED_PRECONDITION",
        "RESOURCE_EXHAUSTED",
        "NOT_FOUND",
        "failed_precondition",
        "resource_exhausted",
        "not_found",
      ]).toContain(rotated.code);
    }
    for (const o of opts.others) expect(await opts.introspect(o.token)).toBe(true);
  }

  it("rotate racing revoke over gRPC (30 rounds): invariants hold", async () => {
    const outcomes = { rotateWon: 0, revokeFirst: 0 };
    for (let round = 0; round < 30; round++) {
      const tenantId = `race-rr-${round}`;
      const made = [];
      for (let i = 0; i < 3; i++) made.push(await t.grpc.createKey({ tenantId, label: `k${i}` }, admin()));
      const target = { id: made[0]!.key!.id, token: made[0]!.token };
      // A third of the rounds give the rotation a head start, a third the revoke, the rest jitter:
      // both outcomes must occur (asserted below), or the invariants were only checked for one order.
      const [rotDelay, revDelay] = round % 3 === 0 ? [0, 8] : round % 3 === 1 ? [8, 0] : [jitter(), jitter()];
      const rotateP = sleep(rotDelay).then(() => t.grpc.rotateKey({ tenantId, keyId: target.id }, admin()));
      const revokeP = sleep(revDelay).then(() => t.grpc.revokeKey({ tenantId, keyId: target.id }, admin()));
      const [rot, rev] = await Promise.allSettled([rotateP, revokeP]);
      const rotated =
        rot.status === "fulfilled"
          ? ({ ok: true, id: rot.value.key!.id, token: rot.value.token } as const)
          : ({ ok: false, code: grpcCodeName(rot.reason) } as const);
      if (rotated.ok) outcomes.rotateWon++;
      else outcomes.revokeFirst++;
      await checkRound({
        tenantId,
        list: async () =>
          (await t.grpc.listKeys({ tenantId }, admin())).keys.map((k) => ({
            id: k.id,
            status: ["unspecified", "active", "deprecated", "revoked"][k.status]!,
            rotatedFromKeyId: k.rotatedFromKeyId || undefined,
          })),
        introspect: async (token) => (await t.grpc.introspect({ token })).active,
        target,
        others: made.slice(1).map((m) => ({ id: m.key!.id, token: m.token })),
        rotated,
        revokeCode: rev.status === "fulfilled" ? "OK" : grpcCodeName(rev.reason),
      });
    }
    expect(outcomes.rotateWon).toBeGreaterThan(0);
    expect(outcomes.revokeFirst).toBeGreaterThan(0);
  });

  it("rotate racing revoke (and a create) at the domain level on a jittery store (100 rounds): invariants hold", async () => {
    const faulty = createFaultyStore(monitor.store, { kind: "delay", ms: jitter });
    const d = createDomain({ store: faulty.store, cache: { ttlMs: 2000 } });
    const seen = { rotateWon: 0, revokeFirst: 0 };
    for (let round = 0; round < 100; round++) {
      const tenantId = `race-rrd-${round}`;
      const made = [];
      for (let i = 0; i < 3; i++) made.push(await d.keys.create(tenantId, `k${i}`, "t"));
      const target = { id: made[0]!.key.id, token: made[0]!.token };
      // Warm the cache so a stale cached "active" would show.
      for (const m of made) expect((await d.introspector.introspect(m.token)).active).toBe(true);
      const [rot, rev, extra] = await Promise.allSettled([
        d.keys.rotate(tenantId, target.id, "t"),
        d.keys.revoke(tenantId, target.id, "t"),
        d.keys.create(tenantId, "extra", "t"), // may take the slot the revoke frees
      ]);
      const rotated =
        rot.status === "fulfilled"
          ? ({ ok: true, id: rot.value.key.id, token: rot.value.token } as const)
          : ({ ok: false, code: (rot.reason as DomainError).code } as const);
      if (rotated.ok) seen.rotateWon++;
      else seen.revokeFirst++;
      if (extra.status === "rejected") expect((extra.reason as DomainError).code).toBe("resource_exhausted");
      await checkRound({
        tenantId,
        list: async () =>
          (await d.keys.list(tenantId)).map((k) => ({
            id: k.id,
            status: k.status,
            rotatedFromKeyId: k.rotatedFromKeyId,
          })),
        introspect: async (token) => (await d.introspector.introspect(token)).active,
        target,
        others: made.slice(1).map((m) => ({ id: m.key.id, token: m.token })),
        rotated,
        revokeCode: rev.status === "fulfilled" ? "ok" : await domainCodeOf(Promise.reject(rev.reason as Error)),
      });
    }
    // Both orders happened (the jitter really interleaves them).
    expect(seen.rotateWon).toBeGreaterThan(0);
    expect(seen.revokeFirst).toBeGreaterThan(0);
    await d.lastUsed.close();
  });
}

/**
 * A revocation racing an introspection that is already reading the store. The in-flight call may
 * answer active (it read before the revoke), but the next call must not: "revocation is immediate".
 *
 * Found by this test and fixed with an invalidation epoch in the cache (src/domain/token-cache.ts):
 * a lookup remembers the epoch before its store read and does not cache what it read if the epoch
 * moved meanwhile (src/domain/introspector.ts, readThrough). Same for a HIPAA policy switched on
 * during a policy read.
 */
describe("cache fill racing a revoke (memory, domain)", () => {
  const setup = async () => {
    const faulty = createFaultyStore(createMemoryTokenStore());
    const d = createDomain({ store: faulty.store, cache: { ttlMs: 2000 } });
    return { faulty, d };
  };
  const tick = () => new Promise((r) => setImmediate(r));

  it("a key revoked while an introspection is reading it is inactive on the next call", async () => {
    const { faulty, d } = await setup();
    const k = await d.keys.create("acme", "x", "t");
    faulty.setMode({ kind: "delay", ms: 30, answer: "late" }, ["findKeyByHash"]);
    const inflight = d.introspector.introspect(k.token); // reads the store now, hears back in 30 ms
    await tick();
    await d.keys.revoke("acme", k.key.id, "t");
    await inflight;
    faulty.heal();
    expect(await d.introspector.introspect(k.token)).toEqual({ active: false, reason: "revoked" });
    await d.lastUsed.close();
  });

  it("a HIPAA policy switched on while a policy read is in flight applies on the next call", async () => {
    const { faulty, d } = await setup();
    const k = await d.keys.create("clinic", "x", "t");
    faulty.setMode({ kind: "delay", ms: 30, answer: "late" }, ["getPolicy"]);
    const inflight = d.introspector.introspect(k.token);
    await turnsUntil(() => (faulty.reached.getPolicy ?? 0) >= 1); // the key is read, the policy read is in flight
    await d.policies.set("clinic", true, "t");
    await inflight;
    faulty.heal();
    expect(await d.introspector.introspect(k.token)).toEqual({ active: false, reason: "tenant_policy" });
    await d.lastUsed.close();
  });

  it("control: without a concurrent read, a revoke is seen at once", async () => {
    const { d } = await setup();
    const k = await d.keys.create("acme", "x", "t");
    expect((await d.introspector.introspect(k.token)).active).toBe(true);
    await d.keys.revoke("acme", k.key.id, "t");
    expect(await d.introspector.introspect(k.token)).toEqual({ active: false, reason: "revoked" });
    await d.lastUsed.close();
  });
});
