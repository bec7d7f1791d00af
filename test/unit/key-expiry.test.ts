// Issue 22 in the domain, with the injected clock: expiry (exact instant, with and without a sweep),
// the tenant's maximum key lifetime, a successor's expiry, the chosen rotation grace, suspend and
// resume, and `key.expired` recorded exactly once by concurrent sweeps.
import { afterEach, describe, expect, it } from "vitest";
import { createAuditTrail } from "../../src/domain/audit-trail.js";
import { expireGracePeriods } from "../../src/domain/grace-expiry.js";
import { expireKeys } from "../../src/domain/key-expiry-sweep.js";
import { createDomain } from "../support/domain.js";
import { HOUR } from "../support/manual-clock.js";
import { domainCodeOf as codeOf } from "../support/codes.js";
import { DomainError } from "../../src/domain/errors.js";

const DAY = 24 * HOUR;
let d: ReturnType<typeof createDomain>;
afterEach(async () => {
  await d?.lastUsed.close();
});

async function messageOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof DomainError) return `${err.code}: ${err.message}`;
    throw err;
  }
  throw new Error("expected a DomainError");
}

describe("key expiry (injected clock)", () => {
  it("a key is active until exactly its expiry, then EXPIRED, without any sweep; expires_at is answered", async () => {
    d = createDomain();
    const { token, key } = await d.keys.create("acme", "CRM", "t", { expiry: { inMs: 90 * DAY, field: "expires_in" } });
    const expiresAt = new Date(d.clock.now().getTime() + 90 * DAY);
    expect(key.expiresAt).toEqual(expiresAt);
    d.clock.advance(90 * DAY - 1);
    expect(await d.introspector.introspect(token)).toMatchObject({ active: true, expiresAt });
    d.clock.advance(1);
    expect(await d.introspector.introspect(token)).toEqual({ active: false, reason: "expired" });
    // ListKeys: revoked as of its expiry (its expires_at tells why).
    expect((await d.keys.list("acme"))[0]).toMatchObject({ status: "revoked", revokedAt: expiresAt, expiresAt });
  });

  it("the cached fast path stops serving the key's answer at its expiry (the memo ends there)", async () => {
    d = createDomain();
    const { token } = await d.keys.create("acme", "CRM", "t", { expiry: { inMs: HOUR, field: "expires_in" } });
    await d.introspector.introspect(token); // fills the cache (the policy too)
    const first = d.introspector.introspectCached!(token)!;
    expect(first.result).toMatchObject({ active: true });
    expect(first.clockUntil).toBe(d.clock.now().getTime() + HOUR);
    d.clock.advance(HOUR - 1);
    expect(d.introspector.introspectCached!(token)).toBe(first); // same answer object, same bytes
    d.clock.advance(1);
    expect(d.introspector.introspectCached!(token)!.result).toEqual({ active: false, reason: "expired" });
  });

  it("an explicit instant must be in the future; a refusal names the field and never the value", async () => {
    d = createDomain();
    const now = d.clock.now();
    expect(await messageOf(d.keys.create("acme", "CRM", "t", { expiry: { at: now, field: "expires_at" } }))).toBe(
      "invalid_argument: expires_at: must be in the future",
    );
    const { key } = await d.keys.create("acme", "CRM", "t", {
      expiry: { at: new Date(now.getTime() + 1), field: "expires_at" },
    });
    expect(key.expiresAt!.getTime()).toBe(now.getTime() + 1);
  });

  it("under a tenant maximum: a longer expiry is refused naming the maximum; exactly the maximum is accepted; none gets the maximum", async () => {
    d = createDomain();
    await d.policies.set("acme", false, "t", { fields: ["maxKeyLifetimeMs"], maxKeyLifetimeMs: 365 * DAY });
    const now = d.clock.now().getTime();
    const tooLong = { at: new Date(now + 365 * DAY + 1), field: "expires_at" };
    const msg = await messageOf(d.keys.create("acme", "CRM", "t", { expiry: tooLong }));
    expect(msg).toMatch(/^invalid_argument: expires_at: .*max_key_lifetime of 365d/);
    expect(msg).not.toContain(tooLong.at.toISOString());
    const exact = await d.keys.create("acme", "A", "t", { expiry: { inMs: 365 * DAY, field: "expires_in" } });
    expect(exact.key.expiresAt!.getTime()).toBe(now + 365 * DAY);
    const missing = await d.keys.create("acme", "B", "t");
    expect(missing.key.expiresAt!.getTime()).toBe(now + 365 * DAY);
    // Other tenants are not bound by it.
    expect((await d.keys.create("other", "C", "t")).key.expiresAt).toBeUndefined();
  });

  it("setting the maximum keeps hipaa_enabled, and setting hipaa_enabled keeps the maximum", async () => {
    d = createDomain();
    await d.policies.set("acme", false, "t", { fields: ["maxKeyLifetimeMs"], maxKeyLifetimeMs: 30 * DAY });
    await d.policies.set("acme", true, "t"); // the old call: HIPAA only
    expect(await d.policies.get("acme")).toMatchObject({ hipaaEnabled: true, maxKeyLifetimeMs: 30 * DAY });
    await d.policies.set("acme", false, "t", { fields: ["maxKeyLifetimeMs"], maxKeyLifetimeMs: 7 * DAY });
    expect(await d.policies.get("acme")).toMatchObject({ hipaaEnabled: true, maxKeyLifetimeMs: 7 * DAY });
    await d.policies.set("acme", false, "t", { fields: ["maxKeyLifetimeMs"], maxKeyLifetimeMs: undefined });
    const p = await d.policies.get("acme");
    expect(p.hipaaEnabled).toBe(true);
    expect(p.maxKeyLifetimeMs).toBeUndefined();
  });

  it("a successor gets its predecessor's lifetime length from its own creation, clamped to the maximum as of then", async () => {
    d = createDomain();
    const a = await d.keys.create("acme", "CRM", "t", { expiry: { inMs: 90 * DAY, field: "expires_in" } });
    d.clock.advance(10 * DAY);
    const r1 = await d.keys.rotate("acme", a.key.id, "t");
    expect(r1.key.expiresAt!.getTime()).toBe(d.clock.now().getTime() + 90 * DAY);
    // The tenant tightens its maximum: the next successor is clamped to it (not refused).
    await d.policies.set("acme", false, "t", { fields: ["maxKeyLifetimeMs"], maxKeyLifetimeMs: 30 * DAY });
    d.clock.advance(DAY);
    const r2 = await d.keys.rotate("acme", r1.key.id, "t");
    expect(r2.key.expiresAt!.getTime()).toBe(d.clock.now().getTime() + 30 * DAY);
    // A key without expiry: its successor gets the tenant maximum from its own creation.
    await d.policies.set("other", false, "t", { fields: ["maxKeyLifetimeMs"], maxKeyLifetimeMs: undefined });
    const b = await d.keys.create("beta", "X", "t");
    await d.policies.set("beta", false, "t", { fields: ["maxKeyLifetimeMs"], maxKeyLifetimeMs: 7 * DAY });
    const rb = await d.keys.rotate("beta", b.key.id, "t");
    expect(rb.key.expiresAt!.getTime()).toBe(d.clock.now().getTime() + 7 * DAY);
    // A named successor expiry longer than the maximum is refused, naming the field.
    const c = await d.keys.create("beta", "Y", "t");
    expect(
      await messageOf(
        d.keys.rotate("beta", c.key.id, "t", { expiry: { inMs: 8 * DAY, field: "successor_expires_in" } }),
      ),
    ).toMatch(/^invalid_argument: successor_expires_in: .*7d/);
  });

  it("an expired key not yet swept (still stored active) cannot be rotated into a fresh key", async () => {
    d = createDomain();
    const { key } = await d.keys.create("acme", "CRM", "t", { expiry: { inMs: HOUR, field: "expires_in" } });
    d.clock.advance(HOUR);
    expect((await d.store.getKey("acme", key.id))!.status).toBe("active");
    expect(await messageOf(d.keys.rotate("acme", key.id, "t"))).toMatch(/^failed_precondition: .*expired/);
    expect((await d.store.listKeys("acme", 10)).length).toBe(1); // no successor
  });

  it("a deprecated key that expires inside its grace is EXPIRED at its expiry; expires_at is the earlier instant", async () => {
    d = createDomain();
    const a = await d.keys.create("acme", "CRM", "t", { expiry: { inMs: 10 * HOUR, field: "expires_in" } });
    const r = await d.keys.rotate("acme", a.key.id, "t");
    expect(await d.introspector.introspect(a.token)).toMatchObject({
      active: true,
      deprecated: true,
      expiresAt: a.key.expiresAt,
    });
    d.clock.advance(10 * HOUR);
    expect(await d.introspector.introspect(a.token)).toEqual({ active: false, reason: "expired" });
    expect(r.previous.revokeAt!.getTime()).toBeGreaterThan(a.key.expiresAt!.getTime());
  });

  it("key.expired is recorded exactly once however many sweeps run at once; the key then reads EXPIRED and frees its place", async () => {
    d = createDomain();
    const audit = createAuditTrail({ store: d.store, clock: d.clock });
    const keys = await Promise.all(
      ["A", "B", "C"].map((l) => d.keys.create("acme", l, "t", { expiry: { inMs: HOUR, field: "expires_in" } })),
    );
    expect(await codeOf(d.keys.create("acme", "D", "t"))).toBe("resource_exhausted");
    expect(await expireKeys({ store: d.store, audit, clock: d.clock })).toBe(0); // not yet
    d.clock.advance(HOUR);
    const sweeps = await Promise.all(
      Array.from({ length: 5 }, () => expireKeys({ store: d.store, audit, clock: d.clock })),
    );
    expect(sweeps.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(3);
    const events = await audit.list({ tenantId: "acme", action: "key.expired", limit: 100 });
    expect(events.map((e) => e.keyId).sort()).toEqual(keys.map((k) => k.key.id).sort());
    expect(await expireKeys({ store: d.store, audit, clock: d.clock })).toBe(0); // stored: nothing left
    expect(await d.introspector.introspect(keys[0]!.token)).toEqual({ active: false, reason: "expired" });
    expect((await d.keys.create("acme", "D", "t")).key.status).toBe("active"); // places freed
    // The grace sweep leaves them alone (no key.grace_expired).
    await expireGracePeriods({ store: d.store, audit, clock: d.clock });
    expect(await audit.list({ tenantId: "acme", action: "key.grace_expired", limit: 100 })).toEqual([]);
  });
});

describe("rotation grace (injected clock)", () => {
  it("a chosen grace ends exactly then; 0 revokes the old key at once; more than 72 h is refused", async () => {
    d = createDomain();
    const a = await d.keys.create("acme", "CRM", "t");
    const r = await d.keys.rotate("acme", a.key.id, "t", { graceMs: 24 * HOUR });
    expect(r.previous.revokeAt!.getTime()).toBe(d.clock.now().getTime() + 24 * HOUR);
    d.clock.advance(24 * HOUR - 1);
    expect(await d.introspector.introspect(a.token)).toMatchObject({ active: true, deprecated: true });
    d.clock.advance(1);
    expect(await d.introspector.introspect(a.token)).toEqual({ active: false, reason: "revoked" });

    await d.introspector.introspect(r.token); // cached
    const z = await d.keys.rotate("acme", r.key.id, "t", { graceMs: 0 });
    expect(z.previous).toMatchObject({ status: "revoked", revokedBy: "t" });
    expect(await d.introspector.introspect(r.token)).toEqual({ active: false, reason: "revoked" });

    expect(await messageOf(d.keys.rotate("acme", z.key.id, "t", { graceMs: 72 * HOUR + 1 }))).toBe(
      "invalid_argument: grace: must be between 0 and 3d",
    );
    const max = await d.keys.rotate("acme", z.key.id, "t", { graceMs: 72 * HOUR });
    expect(max.previous.revokeAt!.getTime()).toBe(d.clock.now().getTime() + 72 * HOUR);
  });
});

describe("suspend and resume", () => {
  it("suspends at once (cached answer dropped), resumes, keeps the key's active place; a revoked key can never be resumed", async () => {
    d = createDomain();
    const { token, key } = await d.keys.create("acme", "CRM", "t");
    await d.keys.create("acme", "B", "t");
    await d.keys.create("acme", "C", "t");
    expect(await d.introspector.introspect(token)).toMatchObject({ active: true });
    const s = await d.keys.suspend("acme", key.id, "admin-1");
    expect(s).toMatchObject({ status: "active", suspendedBy: "admin-1", suspendedAt: d.clock.now() });
    expect(await d.introspector.introspect(token)).toEqual({ active: false, reason: "suspended" });
    expect(d.introspector.introspectCached!(token)!.result).toEqual({ active: false, reason: "suspended" });
    // Still counts toward the 3 active keys.
    expect(await codeOf(d.keys.create("acme", "D", "t"))).toBe("resource_exhausted");
    // Suspending twice keeps the first suspension.
    d.clock.advance(1000);
    expect((await d.keys.suspend("acme", key.id, "admin-2")).suspendedBy).toBe("admin-1");
    expect(await codeOf(d.keys.rotate("acme", key.id, "t"))).toBe("failed_precondition");
    const r = await d.keys.resume("acme", key.id, "admin-1");
    expect(r.suspendedAt).toBeUndefined();
    expect(await d.introspector.introspect(token)).toMatchObject({ active: true });
    await d.keys.suspend("acme", key.id, "admin-1");
    await d.keys.revoke("acme", key.id, "t");
    expect(await messageOf(d.keys.resume("acme", key.id, "t"))).toMatch(/^failed_precondition: .*revoked/);
    expect(await codeOf(d.keys.suspend("acme", key.id, "t"))).toBe("failed_precondition");
    expect(await codeOf(d.keys.suspend("acme", "key_00000000000000000000", "t"))).toBe("not_found");
    expect(await codeOf(d.keys.suspend("other", key.id, "t"))).toBe("not_found");
  });

  it("an expired key cannot be suspended or resumed", async () => {
    d = createDomain();
    const { key } = await d.keys.create("acme", "CRM", "t", { expiry: { inMs: HOUR, field: "expires_in" } });
    await d.keys.suspend("acme", key.id, "t");
    d.clock.advance(HOUR);
    expect(await messageOf(d.keys.resume("acme", key.id, "t"))).toMatch(/^failed_precondition: .*expired/);
  });
});
