import { describe, expect, it } from "vitest";
import { createMemoryTokenStore } from "../../src/adapters/memory/memory-token-store.js";
import type { TokenStore } from "../../src/ports/token-store.js";
import { createDomain } from "../support/domain.js";
import { HOUR } from "../support/manual-clock.js";

/**
 * a cache miss answers by the clock when the store's answer arrives, not when the
 * call started. The store read (and the policy read after it) can take up to the store timeout;
 * a key or session that expired, or a deprecated key whose grace ended, meanwhile must not be
 * answered active (every cache hit reads the clock anew: a miss must too).
 */
function gatedStore() {
  const inner = createMemoryTokenStore();
  let gate: Promise<void> | undefined;
  let open: () => void = () => {};
  const hold = () => {
    gate = new Promise<void>((r) => (open = r));
  };
  const wait = async () => {
    if (gate) await gate;
  };
  const store: TokenStore = Object.assign(Object.create(null), inner, {
    findKeyByHash: async (h: string) => {
      await wait();
      return inner.findKeyByHash(h);
    },
    findSessionByHash: async (h: string) => {
      await wait();
      return inner.findSessionByHash(h);
    },
    getPolicy: async (t: string) => {
      await wait();
      return inner.getPolicy(t);
    },
  });
  return { store, hold, release: () => ((gate = undefined), open()) };
}

describe("the clock of a cache miss", () => {
  it("a key that expires while its store read is in flight is answered expired, not active", async () => {
    const g = gatedStore();
    const d = createDomain({ store: g.store });
    const { token } = await d.keys.create("acme", "k", "test", { expiry: { inMs: HOUR, field: "expiry" } });
    d.cache.clear();
    g.hold();
    const pending = d.introspector.introspect(token);
    d.clock.advance(HOUR + 1000); // the key expired while the store was answering
    g.release();
    expect(await pending).toEqual({ active: false, reason: "expired" });
  });

  it("a deprecated key whose grace ends while its store read is in flight is not answered active", async () => {
    const g = gatedStore();
    const d = createDomain({ store: g.store });
    const issued = await d.keys.create("acme", "k", "test");
    await d.keys.rotate("acme", issued.key.id, "test", { graceMs: HOUR });
    d.cache.clear();
    g.hold();
    const pending = d.introspector.introspect(issued.token);
    d.clock.advance(HOUR);
    g.release();
    expect((await pending).active).toBe(false);
  });

  it("a session that expires while its store read is in flight is answered expired, not active", async () => {
    const g = gatedStore();
    const d = createDomain({ store: g.store });
    const { token } = await d.sessions.create("acme", "test");
    d.cache.clear();
    g.hold();
    const pending = d.introspector.introspect(token);
    d.clock.advance(HOUR);
    g.release();
    expect(await pending).toEqual({ active: false, reason: "expired" });
  });
});

describe("the clock of a JWT verification", () => {
  it("a JWT whose exp passes while it is being verified (a JWKS download) is answered expired", async () => {
    let open: () => void = () => {};
    const gate = new Promise<void>((r) => (open = r));
    const jwt = {
      ready: () => true,
      verify: async () => {
        await gate;
        return { ok: true as const, claims: { tenantId: "acme", subject: "u1", expiresAt, groups: [] } };
      },
    };
    const d = createDomain({ jwt });
    const expiresAt = new Date(d.clock.now().getTime() + 1000);
    const token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1MSJ9.c2ln";
    const pending = d.introspector.introspect(token);
    d.clock.advance(5000); // the verifier (JWKS download) took 5 s; the token expired meanwhile
    open();
    expect(await pending).toEqual({ active: false, reason: "expired" });
  });
});
