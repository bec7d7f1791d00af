// Issue 22, retire on first use: the old key's grace ends at the new key's first introspection, on
// whichever instance sees it first (one conditional store write, one audit event), never without
// the flag, never beyond the grace.
import { afterEach, describe, expect, it } from "vitest";
import { createMemoryTokenStore } from "../../src/adapters/memory/memory-token-store.js";
import { createAuditTrail } from "../../src/domain/audit-trail.js";
import { StoreUnavailableError } from "../../src/domain/errors.js";
import { createFirstUseRetirement, RETIRED_BY } from "../../src/domain/first-use-retirement.js";
import { createIntrospector } from "../../src/domain/introspector.js";
import { createKeyService } from "../../src/domain/key-service.js";
import { createSessionService } from "../../src/domain/session-service.js";
import { createLastUsedRecorder } from "../../src/domain/last-used-recorder.js";
import { createTokenCache } from "../../src/domain/token-cache.js";
import { disabledJwtVerifier } from "../../src/ports/jwt-verifier.js";
import type { TokenStore } from "../../src/ports/token-store.js";
import { createManualClock, HOUR } from "../support/manual-clock.js";
import { waitUntil } from "../support/poll.js";

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

/** One instance: its own cache, introspector and retirement, on a shared store and clock. */
function instance(store: TokenStore, clock: ReturnType<typeof createManualClock>) {
  const cache = createTokenCache({ ttlMs: 60_000 });
  const lastUsed = createLastUsedRecorder(store, { flushIntervalMs: 60_000 });
  closers.push(() => lastUsed.close());
  const audit = createAuditTrail({ store, clock });
  const published: string[] = [];
  const retire = createFirstUseRetirement({
    store,
    clock,
    cache,
    audit: () => audit,
    publish: (i) => published.push(`${i.kind}:${i.keyId}`),
  });
  const introspector = createIntrospector({
    store,
    clock,
    cache,
    lastUsed,
    jwt: disabledJwtVerifier,
    onKeyUse: retire,
  });
  const keys = createKeyService({
    store,
    clock,
    cache,
    lastUsed,
    sessions: createSessionService({ store, clock, cache }),
  });
  return { introspector, keys, audit, published };
}

describe("retire on first use", () => {
  it("a refused use of the new key (tenant mismatch, scope, address) retires nothing; a granted one does (attack finding)", async () => {
    const store = createMemoryTokenStore();
    const clock = createManualClock();
    const a = instance(store, clock);
    const old = await a.keys.create("acme", "CRM", "t");
    const r = await a.keys.rotate("acme", old.key.id, "t", {
      retireOnFirstUse: true,
      scopes: { set: ["a:read"] },
      allowedCidrs: { set: ["10.0.0.0/8"] },
    });
    const refusals = [
      await a.introspector.introspect(r.token, "globex", { clientAddress: "10.1.1.1" }),
      await a.introspector.introspect(r.token, undefined, { clientAddress: "192.168.1.1" }),
      await a.introspector.introspect(r.token, undefined, { clientAddress: "10.1.1.1", requiredScopes: ["b:write"] }),
      a.introspector.introspectCached!(r.token, "globex", { clientAddress: "10.1.1.1" })?.result,
    ];
    expect(refusals.map((x) => x?.active)).toEqual([false, false, false, false]);
    await new Promise((done) => setTimeout(done, 100));
    expect((await store.getKey("acme", old.key.id))!.status).toBe("deprecated");
    expect(await a.introspector.introspect(old.token)).toMatchObject({ active: true, deprecated: true });
    // The cached (grpc-js fast path) answer granted: the retirement happens.
    expect(a.introspector.introspectCached!(r.token, "acme", { clientAddress: "10.1.1.1" })?.result.active).toBe(true);
    await waitUntil(async () => (await store.getKey("acme", old.key.id))!.status === "revoked", 2000);
  });

  it("the old key works until the new key's first introspection, then is revoked (once, audited, told to watchers)", async () => {
    const store = createMemoryTokenStore();
    const clock = createManualClock();
    const a = instance(store, clock);
    const old = await a.keys.create("acme", "CRM", "t");
    const r = await a.keys.rotate("acme", old.key.id, "t", { retireOnFirstUse: true });
    expect(r.key.retireOnFirstUse).toBe(true);
    expect(await a.introspector.introspect(old.token)).toMatchObject({ active: true, deprecated: true });
    clock.advance(HOUR);
    expect(await a.introspector.introspect(r.token)).toMatchObject({ active: true });
    await waitUntil(async () => (await store.getKey("acme", old.key.id))!.status === "revoked", 2000);
    expect(await store.getKey("acme", old.key.id)).toMatchObject({ revokedAt: clock.now(), revokedBy: RETIRED_BY });
    expect(await a.introspector.introspect(old.token)).toEqual({ active: false, reason: "revoked" });
    expect((await store.getKey("acme", r.key.id))!.retireOnFirstUse).toBeUndefined();
    await waitUntil(
      async () => (await a.audit.list({ tenantId: "acme", action: "key.grace_expired", limit: 10 })).length === 1,
      2000,
    );
    expect(a.published).toEqual([`key_grace_ended:${old.key.id}`]);
  });

  it("two instances using the new key at once: exactly one retirement and one key.grace_expired", async () => {
    const store = createMemoryTokenStore();
    const clock = createManualClock();
    const a = instance(store, clock);
    const b = instance(store, clock);
    const old = await a.keys.create("acme", "CRM", "t");
    const r = await a.keys.rotate("acme", old.key.id, "t", { retireOnFirstUse: true });
    await Promise.all([a.introspector.introspect(r.token), b.introspector.introspect(r.token)]);
    await waitUntil(async () => (await store.getKey("acme", old.key.id))!.status === "revoked", 2000);
    await new Promise((res) => setTimeout(res, 50));
    expect(await a.audit.list({ tenantId: "acme", action: "key.grace_expired", limit: 10 })).toHaveLength(1);
    expect([...a.published, ...b.published]).toEqual([`key_grace_ended:${old.key.id}`]);
  });

  it("without the flag the new key's use changes nothing; with grace 0 there is nothing to retire", async () => {
    const store = createMemoryTokenStore();
    const clock = createManualClock();
    const a = instance(store, clock);
    const old = await a.keys.create("acme", "CRM", "t");
    const r = await a.keys.rotate("acme", old.key.id, "t");
    await a.introspector.introspect(r.token);
    await new Promise((res) => setTimeout(res, 50));
    expect((await store.getKey("acme", old.key.id))!.status).toBe("deprecated");
    const z = await a.keys.rotate("acme", r.key.id, "t", { graceMs: 0, retireOnFirstUse: true });
    expect(z.key.retireOnFirstUse).toBeUndefined();
  });

  it("a grace that ended first is not shortened after the fact (the store's condition: still in its grace)", async () => {
    const store = createMemoryTokenStore();
    const clock = createManualClock();
    const a = instance(store, clock);
    const old = await a.keys.create("acme", "CRM", "t");
    const r = await a.keys.rotate("acme", old.key.id, "t", { graceMs: HOUR, retireOnFirstUse: true });
    clock.advance(HOUR);
    await a.introspector.introspect(r.token);
    await new Promise((res) => setTimeout(res, 50));
    const stored = (await store.getKey("acme", old.key.id))!;
    expect(stored.status).toBe("deprecated"); // the sweep stores it, as of its revokeAt
    expect(a.published).toEqual([]);
  });
});

describe("retire on first use, the write's answer lost", () => {
  // A retirement whose store write lands but whose answer is lost (a timeout after the server
  // applied it) must still drop this instance's cached predecessor, as every other change does: the
  // stored state says REVOKED, and the cached entry (deprecated, in its grace) kept answering active.
  it("the predecessor stored REVOKED is not answered active from this instance's cache", async () => {
    const inner = createMemoryTokenStore();
    let calls = 0;
    const store: TokenStore = Object.assign(Object.create(null), inner, {
      retirePredecessor: async (...args: Parameters<TokenStore["retirePredecessor"]>) => {
        calls++;
        await inner.retirePredecessor(...args);
        throw new StoreUnavailableError("retirePredecessor: answer lost after the write");
      },
    });
    const { introspector, keys } = instance(store, createManualClock());
    const old = await keys.create("acme", "CRM", "t");
    const successor = await keys.rotate("acme", old.key.id, "t", { retireOnFirstUse: true });
    expect(await introspector.introspect(old.token)).toMatchObject({ active: true, deprecated: true }); // cached
    expect((await introspector.introspect(successor.token)).active).toBe(true); // the first use
    await waitUntil(() => calls === 1, 2000, "retirement attempted");
    await new Promise((r) => setTimeout(r, 10));
    expect((await inner.getKey("acme", old.key.id))?.status).toBe("revoked"); // the write landed
    expect((await introspector.introspect(old.token)).active).toBe(false);
  });
});
