import { afterEach, describe, expect, it } from "vitest";
import { ADMIN_TENANT_ID } from "../../src/domain/tenant-id.js";
import { createSessionService } from "../../src/domain/session-service.js";
import type { TokenStore } from "../../src/ports/token-store.js";
import { createDomain } from "../support/domain.js";
import { NOT_VALID } from "../../src/domain/principal.js";

let d: ReturnType<typeof createDomain>;
afterEach(async () => {
  await d?.lastUsed.close();
});

/** A store whose insertSession waits until released: the CreateSession has authenticated, not yet stored. */
function pausedInsert(store: TokenStore) {
  let release!: () => void;
  let reached!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const atInsert = new Promise<void>((r) => (reached = r));
  const paused: TokenStore = {
    ...store,
    insertSession: async (session) => {
      reached();
      await gate;
      return store.insertSession(session);
    },
  };
  return { paused, release, atInsert };
}

describe("RevokeKey of an admin key racing CreateSession with that key", () => {
  it("a session stored after the revoke's session walk is not usable", async () => {
    d = createDomain();
    const { token: adminToken, key } = await d.keys.create(ADMIN_TENANT_ID, "ops", "bootstrap");
    expect(await d.introspector.introspect(adminToken)).toMatchObject({ active: true, admin: true });
    const { paused, release, atInsert } = pausedInsert(d.store);
    const sessions = createSessionService({ store: paused, clock: d.clock, cache: d.cache });

    // Authenticated with the key (above), then the revoke and its whole session walk, then the insert.
    const creating = sessions.create("acme", key.id, undefined, { adminKey: true }).then(
      (issued) => ({ issued }),
      (error: unknown) => ({ error }),
    );
    await atInsert;
    await d.keys.revoke(ADMIN_TENANT_ID, key.id, "key_other");
    release();
    const outcome = await creating;

    // The create is refused (its plaintext never leaves it) and the session it stored is revoked.
    if ("issued" in outcome) {
      expect(await d.introspector.introspect(outcome.issued.token)).toMatchObject({ active: false });
    }
    // In the words of any invalid credential: nothing more is said of the key.
    expect(outcome).toMatchObject({ error: { code: "unauthenticated", message: NOT_VALID } });
    const stored = (await d.store.listKeys(ADMIN_TENANT_ID, 10)).find((k) => k.id === key.id);
    expect(stored?.status).toBe("revoked");
    // Nothing created by the key is left unrevoked in the store (a retried RevokeKey finds none).
    expect(await d.sessions.revokeCreatedBy(key.id, "key_other")).toBe(0);
  });

  it("another instance that still has the admin key cached (its change not yet seen) mints no usable session", async () => {
    d = createDomain();
    const { token: adminToken, key } = await d.keys.create(ADMIN_TENANT_ID, "ops", "bootstrap");
    // Instance B: the same store, its own cache (no change feed here: the cache TTL bounds it).
    const b = createDomain({ store: d.store });
    expect(await b.introspector.introspect(adminToken)).toMatchObject({ active: true, admin: true });
    await d.keys.revoke(ADMIN_TENANT_ID, key.id, "key_other"); // instance A: key and walk, done
    expect(await b.introspector.introspect(adminToken)).toMatchObject({ active: true }); // B's stale entry
    await expect(b.sessions.create("acme", key.id, undefined, { adminKey: true })).rejects.toMatchObject({
      code: "unauthenticated",
    });
    expect(await d.sessions.revokeCreatedBy(key.id, "key_other")).toBe(0);
    await b.lastUsed.close();
  });

  it("a create that stored its session before the revoke's walk is revoked by the walk", async () => {
    d = createDomain();
    const { key } = await d.keys.create(ADMIN_TENANT_ID, "ops", "bootstrap");
    const issued = await d.sessions.create("acme", key.id, undefined, { adminKey: true });
    await d.keys.revoke(ADMIN_TENANT_ID, key.id, "key_other");
    expect(await d.introspector.introspect(issued.token)).toMatchObject({ active: false, reason: "revoked" });
  });
});
