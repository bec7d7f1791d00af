import { afterEach, describe, expect, it, vi } from "vitest";
import { DomainError } from "../../src/domain/errors.js";
import { ROTATION_GRACE_MS } from "../../src/domain/key-rules.js";
import { createAuditTrail } from "../../src/domain/audit-trail.js";
import { expireGracePeriods } from "../../src/domain/grace-expiry.js";
import { createDomain } from "../support/domain.js";
import { HOUR } from "../support/manual-clock.js";
import { domainCodeOf as codeOf } from "../support/codes.js";

let d: ReturnType<typeof createDomain>;
afterEach(async () => {
  await d?.lastUsed.close();
});

describe("API key lifecycle (injected clock)", () => {
  it("a rotated key stays valid, deprecated, until exactly 72 hours, then is revoked", async () => {
    d = createDomain();
    const { token, key } = await d.keys.create("acme", "CRM", "tester");
    const rotatedAt = d.clock.now().getTime();
    const r = await d.keys.rotate("acme", key.id, "tester");
    expect(r.previous).toMatchObject({ status: "deprecated", rotatedToKeyId: r.key.id });
    expect(r.previous.revokeAt!.getTime()).toBe(rotatedAt + ROTATION_GRACE_MS);
    expect(ROTATION_GRACE_MS).toBe(72 * HOUR);

    d.clock.advance(ROTATION_GRACE_MS - 1);
    expect(await d.introspector.introspect(token)).toMatchObject({
      active: true,
      deprecated: true,
      expiresAt: r.previous.revokeAt,
    });
    d.clock.advance(1);
    expect(await d.introspector.introspect(token)).toEqual({ active: false, reason: "revoked" });
    // ...without any sweep having run; ListKeys shows it revoked as of revoke_at.
    const listed = (await d.keys.list("acme")).find((k) => k.id === key.id)!;
    expect(listed).toMatchObject({ status: "revoked", revokedAt: r.previous.revokeAt });
    expect(await d.introspector.introspect(r.token)).toMatchObject({ active: true, deprecated: false });
  });

  it("a session is valid for exactly one hour", async () => {
    d = createDomain();
    const { token, session } = await d.sessions.create("acme", "tester");
    expect(session.expiresAt.getTime() - d.clock.now().getTime()).toBe(HOUR); // clock starts on a whole second
    d.clock.advance(HOUR - 1);
    expect(await d.introspector.introspect(token)).toMatchObject({
      active: true,
      tokenType: "session",
      expiresAt: session.expiresAt,
    });
    d.clock.advance(1);
    expect(await d.introspector.introspect(token)).toEqual({ active: false, reason: "expired" });
  });

  it("only active keys rotate; revocation is permanent", async () => {
    d = createDomain();
    const { token, key } = await d.keys.create("acme", "CRM", "tester");
    const r = await d.keys.rotate("acme", key.id, "tester");
    expect(await codeOf(d.keys.rotate("acme", key.id, "tester"))).toBe("failed_precondition"); // deprecated
    const revoked = await d.keys.revoke("acme", r.key.id, "tester");
    expect(revoked).toMatchObject({ status: "revoked", revokedBy: "tester" });
    expect(await d.keys.revoke("acme", r.key.id, "someone-else")).toEqual(revoked); // same record
    expect(await codeOf(d.keys.rotate("acme", r.key.id, "tester"))).toBe("failed_precondition");
    d.clock.advance(ROTATION_GRACE_MS);
    await expireGracePeriods({
      store: d.store,
      audit: createAuditTrail({ store: d.store, clock: d.clock }),
      clock: d.clock,
    });
    expect((await d.store.getKey("acme", r.key.id))!.status).toBe("revoked");
    expect((await d.introspector.introspect(token)).active).toBe(false);
  });

  it("revoking a key whose grace already ended keeps revoked_at = revoke_at", async () => {
    d = createDomain();
    const { key } = await d.keys.create("acme", "CRM", "tester");
    const r = await d.keys.rotate("acme", key.id, "tester");
    d.clock.advance(ROTATION_GRACE_MS + HOUR);
    const revoked = await d.keys.revoke("acme", key.id, "tester");
    expect(revoked.revokedAt).toEqual(r.previous.revokeAt);
  });

  it("allows 3 active keys per tenant, also when 50 creates race; deprecated and revoked keys do not count", async () => {
    d = createDomain();
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => codeOf(d.keys.create("acme", `k${i}`, "t"))),
    );
    expect(results.filter((r) => r === "ok")).toHaveLength(3);
    expect(results.filter((r) => r === "resource_exhausted")).toHaveLength(47);
    const [a] = await d.keys.list("acme");
    await d.keys.rotate("acme", a!.id, "t"); // 3 active + 1 deprecated
    expect(await codeOf(d.keys.create("acme", "more", "t"))).toBe("resource_exhausted");
    const active = (await d.keys.list("acme")).filter((k) => k.status === "active");
    expect(active).toHaveLength(3);
    await d.keys.revoke("acme", active[0]!.id, "t");
    expect(await codeOf(d.keys.create("acme", "more", "t"))).toBe("ok");
    expect(await codeOf(d.keys.create("other", "x", "t"))).toBe("ok"); // per tenant
  });

  it("concurrent rotations of one key: exactly one succeeds", async () => {
    d = createDomain();
    const { key } = await d.keys.create("acme", "CRM", "t");
    const results = await Promise.all(Array.from({ length: 20 }, () => codeOf(d.keys.rotate("acme", key.id, "t"))));
    expect(results.filter((r) => r === "ok")).toHaveLength(1);
    expect((await d.keys.list("acme")).filter((k) => k.status === "active")).toHaveLength(1);
  });

  it("revocation and rotation take effect on the very next call despite the cache", async () => {
    d = createDomain({ cache: { ttlMs: 3_600_000 } });
    const { token, key } = await d.keys.create("acme", "CRM", "t");
    expect((await d.introspector.introspect(token)).active).toBe(true); // now cached
    await d.keys.revoke("acme", key.id, "t");
    expect(await d.introspector.introspect(token)).toEqual({ active: false, reason: "revoked" });

    const second = await d.keys.create("acme", "CRM2", "t");
    expect(await d.introspector.introspect(second.token)).toMatchObject({ deprecated: false });
    await d.keys.rotate("acme", second.key.id, "t");
    expect(await d.introspector.introspect(second.token)).toMatchObject({ active: true, deprecated: true });
  });

  it("HIPAA: no new or rotated keys, existing keys inactive at once, sessions unaffected", async () => {
    d = createDomain({ cache: { ttlMs: 3_600_000 } });
    const { token, key } = await d.keys.create("clinic", "x", "t");
    expect((await d.introspector.introspect(token)).active).toBe(true);
    await d.policies.set("clinic", true, "t");
    expect(await d.introspector.introspect(token)).toEqual({ active: false, reason: "tenant_policy" });
    expect(await codeOf(d.keys.create("clinic", "y", "t"))).toBe("failed_precondition");
    expect(await codeOf(d.keys.rotate("clinic", key.id, "t"))).toBe("failed_precondition");
    expect(await codeOf(d.keys.revoke("clinic", key.id, "t"))).toBe("ok"); // revoking stays possible
    const s = await d.sessions.create("clinic", "t");
    expect((await d.introspector.introspect(s.token)).active).toBe(true);
  });

  it("records last_used_at: visible in ListKeys at once, written coalesced (one write per key per flush)", async () => {
    d = createDomain();
    const { token, key } = await d.keys.create("acme", "CRM", "t");
    let writes = 0;
    const original = d.store.recordKeyUses.bind(d.store);
    d.store.recordKeyUses = async (uses) => {
      writes += uses.length;
      return original(uses);
    };
    for (let i = 0; i < 100; i++) {
      d.clock.advance(10);
      await d.introspector.introspect(token);
    }
    const usedAt = d.clock.now();
    expect((await d.keys.list("acme"))[0]!.lastUsedAt).toEqual(usedAt);
    expect(await d.lastUsed.flush()).toBe(1);
    expect(writes).toBe(1);
    expect((await d.store.getKey("acme", key.id))!.lastUsedAt).toEqual(usedAt);
  });

  it("an inactive result carries nothing but the reason, and a refused use is not a use", async () => {
    d = createDomain();
    const { token, key } = await d.keys.create("acme", "CRM", "t");
    expect(await d.introspector.introspect(token, "other")).toEqual({ active: false, reason: "tenant_mismatch" });
    expect(d.lastUsed.pending(key.id)).toBeUndefined();
    expect(await d.introspector.introspect(token, "acme")).toMatchObject({ active: true });
    expect(d.lastUsed.pending(key.id)).toEqual(d.clock.now());
  });

  it("a JWT verifier that cannot work fails the call (UNAVAILABLE) and caches nothing", async () => {
    let calls = 0;
    let broken = true;
    const jwt = {
      ready: () => true,
      verify: async () => {
        calls++;
        if (broken) throw new DomainError("unavailable", "keys unavailable");
        return {
          ok: true as const,
          claims: { tenantId: "acme", subject: "u1", expiresAt: new Date(Date.now() + HOUR), groups: [] },
        };
      },
    };
    d = createDomain({ jwt });
    const token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1MSJ9.c2ln";
    expect(await codeOf(d.introspector.introspect(token))).toBe("unavailable");
    broken = false;
    expect(await d.introspector.introspect(token)).toMatchObject({ active: true, tokenType: "cognito", subject: "u1" });
    expect(calls).toBe(2);
  });
});

describe("writes whose outcome is unknown", () => {
  it("a create that timed out but landed later leaves no usable key behind", async () => {
    const { withStoreTimeout } = await import("../../src/app/store-timeout.js");
    const { createMemoryTokenStore } = await import("../../src/adapters/memory/memory-token-store.js");
    // Injected timers: the store timeout (50 ms) and the orphan revoke's first retry (500 ms) are
    // moved by hand; the slow insert lands when the test releases it, not after a sleep.
    vi.useFakeTimers();
    try {
      const raw = createMemoryTokenStore();
      let land!: () => void;
      const gate = new Promise<void>((r) => (land = r));
      const slow = {
        ...raw,
        insertKey: async (...args: Parameters<typeof raw.insertKey>) => {
          await gate;
          return raw.insertKey(...args);
        },
      };
      d = createDomain({ store: withStoreTimeout(slow, 50) });
      const outcome = codeOf(d.keys.create("acme", "CRM", "t"));
      await vi.advanceTimersByTimeAsync(50);
      expect(await outcome).toBe("unavailable");
      land();
      await vi.advanceTimersByTimeAsync(0);
      const [landed] = await raw.listKeys("acme", 10);
      expect(landed?.status).toBe("active"); // the late write did land...
      await vi.advanceTimersByTimeAsync(500); // the background revoke's first attempt
      const [after] = await raw.listKeys("acme", 10);
      expect(after).toMatchObject({ id: landed!.id, status: "revoked", revokedBy: "system:unacknowledged-write" }); // ...and was revoked
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("invalidation by another instance's change", () => {
  it("a change known only by key id (change stream) drops the cached key at once; policies likewise", async () => {
    d = createDomain({ cache: { ttlMs: 3_600_000 } });
    const { token, key } = await d.keys.create("acme", "CRM", "t");
    expect((await d.introspector.introspect(token)).active).toBe(true); // cached for an hour
    // Another instance revokes it: the shared store changes, this instance's cache does not know.
    await d.store.revokeKey({ tenantId: "acme", keyId: key.id, revokedAt: d.clock.now(), revokedBy: "elsewhere" });
    expect((await d.introspector.introspect(token)).active).toBe(true); // stale, within the TTL bound
    d.cache.deleteKey(key.id); // what the change feed delivers
    expect(await d.introspector.introspect(token)).toEqual({ active: false, reason: "revoked" });

    const other = await d.keys.create("beta", "x", "t");
    expect((await d.introspector.introspect(other.token)).active).toBe(true);
    await d.store.setPolicy({ tenantId: "beta", hipaaEnabled: true });
    expect((await d.introspector.introspect(other.token)).active).toBe(true);
    d.cache.deletePolicy("beta");
    expect(await d.introspector.introspect(other.token)).toEqual({ active: false, reason: "tenant_policy" });
  });
});

describe("rotation without a free active-key slot", () => {
  it("answers RESOURCE_EXHAUSTED naming the limit when the store finds no slot for the successor", async () => {
    // The store answer that a MongoDB transaction gives when no active-key slot is free, and the
    // standalone path when a concurrent CreateKey took the freed slot.
    const { createMemoryTokenStore } = await import("../../src/adapters/memory/memory-token-store.js");
    const memory = createMemoryTokenStore();
    const store = { ...memory, rotateKey: async () => ({ ok: false as const, reason: "limit" as const }) };
    const d = createDomain({ store });
    const { key } = await d.keys.create("acme", "k", "test");
    const err = await d.keys.rotate("acme", key.id, "test").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DomainError);
    expect((err as DomainError).code).toBe("resource_exhausted");
    expect((err as DomainError).message).toMatch(/limit 3/);
  });
});
