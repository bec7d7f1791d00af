import { describe, expect, it } from "vitest";
import { createMemoryTokenStore } from "../../src/adapters/memory/memory-token-store.js";
import type { IntrospectChecks } from "../../src/domain/access-checks.js";
import { createCountingStore } from "../support/counting-store.js";
import { createDomain } from "../support/domain.js";

/**
 * Issue 22 in the introspector: required scopes and the client address are checked on the values
 * of the cached entry (no store read), with the same answer on the slow path (introspect) and the
 * hot path (introspectCached), and a refusal never hands out the entry's kept answer (whose
 * `encoded` slot a transport fills with the granted answer's bytes).
 */
function setup() {
  const counting = createCountingStore(createMemoryTokenStore());
  const d = createDomain({ store: counting.store });
  return { d, counting };
}

async function both(d: ReturnType<typeof createDomain>, token: string, checks?: IntrospectChecks, tenant?: string) {
  const slow = await d.introspector.introspect(token, tenant, checks);
  const fast = d.introspector.introspectCached!(token, tenant, checks);
  expect(fast, "cached").toBeDefined();
  expect(fast!.result).toEqual(slow);
  return fast!;
}

describe("Introspect with required scopes and a client address (issue 22)", () => {
  it("answers a key's scopes; a scoped key lacking a required scope is INSUFFICIENT_SCOPE; an unscoped key has them all", async () => {
    const { d } = setup();
    const scoped = await d.keys.create("acme", "s", "t", { scopes: ["contacts:read", "deals:read"] });
    const plain = await d.keys.create("acme", "p", "t");
    expect((await both(d, scoped.token)).result).toMatchObject({
      active: true,
      scopes: ["contacts:read", "deals:read"],
    });
    expect((await both(d, scoped.token, { requiredScopes: ["deals:read"] })).result.active).toBe(true);
    expect((await both(d, scoped.token, { requiredScopes: ["deals:read", "deals:write"] })).result).toEqual({
      active: false,
      reason: "insufficient_scope",
    });
    const open = await both(d, plain.token, { requiredScopes: ["anything"] });
    expect(open.result).toMatchObject({ active: true });
    expect((open.result as { scopes?: unknown }).scopes).toBeUndefined();
  });

  it("a key with an allowlist: inside passes, outside or no address is ADDRESS_NOT_ALLOWED (IPv4-mapped counts as IPv4); a key without one ignores the address", async () => {
    const { d } = setup();
    const fenced = await d.keys.create("acme", "f", "t", { allowedCidrs: ["10.0.0.0/8", "2001:db8::/32"] });
    const plain = await d.keys.create("acme", "p", "t");
    const denied = { active: false, reason: "address_not_allowed" };
    expect((await both(d, fenced.token)).result).toEqual(denied);
    expect((await both(d, fenced.token, { clientAddress: "11.1.1.1" })).result).toEqual(denied);
    expect((await both(d, fenced.token, { clientAddress: "10.1.1.1" })).result.active).toBe(true);
    expect((await both(d, fenced.token, { clientAddress: "2001:db8::9" })).result.active).toBe(true);
    expect((await both(d, plain.token, { clientAddress: "11.1.1.1" })).result.active).toBe(true);
    expect((await both(d, plain.token)).result.active).toBe(true);
    // The address check comes first; tenant mismatch before both.
    expect((await both(d, fenced.token, { clientAddress: "11.1.1.1", requiredScopes: ["x"] })).result).toEqual(denied);
    expect((await both(d, fenced.token, { clientAddress: "10.1.1.1" }, "globex")).result).toEqual({
      active: false,
      reason: "tenant_mismatch",
    });
  });

  it("the checks read no store: after the first read, any mix of checks is answered from the cache", async () => {
    const { d, counting } = setup();
    const k = await d.keys.create("acme", "k", "t", { scopes: ["a"], allowedCidrs: ["10.0.0.0/8"] });
    await d.introspector.introspect(k.token, undefined, { clientAddress: "10.0.0.1" });
    const reads = counting.introspectReads();
    for (const checks of [
      undefined,
      { requiredScopes: ["a"] },
      { requiredScopes: ["b"], clientAddress: "10.0.0.1" },
      { clientAddress: "192.168.0.1" },
    ]) {
      await d.introspector.introspect(k.token, undefined, checks);
      expect(d.introspector.introspectCached!(k.token, undefined, checks)).toBeDefined();
    }
    expect(counting.introspectReads()).toBe(reads);
  });

  it("a refusal is never the entry's kept answer, so its encoded bytes (the granted answer's) are never served for it", async () => {
    const { d } = setup();
    const k = await d.keys.create("acme", "k", "t", { scopes: ["a"], allowedCidrs: ["10.0.0.0/8"] });
    const granted = await both(d, k.token, { clientAddress: "10.0.0.1", requiredScopes: ["a"] });
    granted.encoded = "granted-bytes";
    expect(d.introspector.introspectCached!(k.token, undefined, { clientAddress: "10.0.0.1" })).toBe(granted);
    for (const checks of [{ clientAddress: "10.0.0.1", requiredScopes: ["b"] }, { clientAddress: "8.8.8.8" }, {}]) {
      const refused = d.introspector.introspectCached!(k.token, undefined, checks)!;
      expect(refused).not.toBe(granted);
      expect(refused.result.active).toBe(false);
      expect(refused.encoded).not.toBe("granted-bytes");
    }
    // Only a granted use counts as a use.
    expect(d.lastUsed.pending(k.key.id)).toBeDefined();
    const before = d.lastUsed.pending(k.key.id);
    d.clock.advance(1000);
    d.introspector.introspectCached!(k.token, undefined, { clientAddress: "8.8.8.8" });
    await d.introspector.introspect(k.token, undefined, { clientAddress: "8.8.8.8" });
    expect(d.lastUsed.pending(k.key.id)).toEqual(before);
  });

  it("sessions answer their scopes and are checked the same way; a rotation's successor inherits unless told", async () => {
    const { d } = setup();
    const s = await d.sessions.create("acme", "t", ["reports:read"]);
    expect((await both(d, s.token)).result).toMatchObject({ active: true, scopes: ["reports:read"] });
    expect((await both(d, s.token, { requiredScopes: ["reports:write"] })).result).toEqual({
      active: false,
      reason: "insufficient_scope",
    });
    const k = await d.keys.create("acme", "k", "t", { scopes: ["a"], allowedCidrs: ["10.0.0.0/8"] });
    const inherited = await d.keys.rotate("acme", k.key.id, "t");
    expect([inherited.key.scopes, inherited.key.allowedCidrs]).toEqual([["a"], ["10.0.0.0/8"]]);
    const replaced = await d.keys.rotate("acme", inherited.key.id, "t", {
      scopes: { set: ["b"] },
      allowedCidrs: { set: undefined },
    });
    expect([replaced.key.scopes, replaced.key.allowedCidrs]).toEqual([["b"], undefined]);
    const cleared = await d.keys.rotate("acme", replaced.key.id, "t", { scopes: { set: undefined } });
    expect([cleared.key.scopes, cleared.key.allowedCidrs]).toEqual([undefined, undefined]);
  });
});
