import { afterEach, describe, expect, it } from "vitest";
import { ROTATION_GRACE_MS } from "../../src/domain/key-rules.js";
import { ADMIN_TENANT_ID } from "../../src/domain/tenant-id.js";
import { createDomain } from "../support/domain.js";
import { HOUR } from "../support/manual-clock.js";

/** The domain rule behind RevokeKey of an admin key (key-service.ts): its sessions go with it. */
let d: ReturnType<typeof createDomain>;
afterEach(async () => {
  await d?.lastUsed.close();
});

const counted = () => {
  const told: number[] = [];
  return { told, opts: { onSessionsRevoked: (n: number) => told.push(n) } };
};

describe("revoking an admin key revokes the sessions it created", () => {
  it("on every tenant, counted; a retry (the key already revoked) takes a session minted meanwhile", async () => {
    d = createDomain();
    const { key } = await d.keys.create(ADMIN_TENANT_ID, "leaked", "ops");
    const a = await d.sessions.create("acme", key.id);
    const b = await d.sessions.create("globex", key.id);
    const first = counted();
    await d.keys.revoke(ADMIN_TENANT_ID, key.id, "key_ops", first.opts);
    expect(first.told).toEqual([2]);
    for (const s of [a, b])
      expect(await d.introspector.introspect(s.token)).toMatchObject({ active: false, reason: "revoked" });
    expect((await d.store.findSessionByHash(a.session.tokenHash))!.revokedBy).toBe("key_ops");

    // A CreateSession that authenticated with the key before its revoke and stored after it.
    const late = await d.sessions.create("acme", key.id);
    const retry = counted();
    expect((await d.keys.revoke(ADMIN_TENANT_ID, key.id, "key_ops", retry.opts)).status).toBe("revoked");
    expect(retry.told).toEqual([1]);
    expect(await d.introspector.introspect(late.token)).toMatchObject({ active: false, reason: "revoked" });
  });

  it("a rotation alone, even with grace 0, leaves the sessions; revoking a deprecated admin key past its grace takes them", async () => {
    d = createDomain();
    const { key } = await d.keys.create(ADMIN_TENANT_ID, "rotated", "ops");
    const s = await d.sessions.create("acme", key.id);
    const rotated = await d.keys.rotate(ADMIN_TENANT_ID, key.id, "ops");
    const bySuccessor = await d.sessions.create("acme", rotated.key.id);
    const zero = await d.keys.rotate(ADMIN_TENANT_ID, rotated.key.id, "ops", { graceMs: 0 }); // revoked at once
    expect(await d.introspector.introspect(s.token)).toMatchObject({ active: true });
    expect(await d.introspector.introspect(bySuccessor.token)).toMatchObject({ active: true });

    d.clock.advance(ROTATION_GRACE_MS + HOUR); // the grace ended (out of scope): sessions are 1 h anyway
    const late = await d.sessions.create("acme", key.id); // stored directly: no RPC would accept the key now
    await d.keys.revoke(ADMIN_TENANT_ID, key.id, "ops");
    expect(await d.introspector.introspect(late.token)).toMatchObject({ active: false, reason: "revoked" });
    await d.keys.revoke(ADMIN_TENANT_ID, zero.key.id, "ops");
  });

  it("a tenant's key is not an admin key: revoking it looks at no session", async () => {
    d = createDomain();
    const { key } = await d.keys.create("acme", "ci", "ops");
    // (No RPC mints a session with a tenant key; stored with its id as creator to show it is not looked at.)
    const s = await d.sessions.create("acme", key.id);
    const told = counted();
    await d.keys.revoke("acme", key.id, "ops", told.opts);
    expect(told.told).toEqual([]);
    expect(await d.introspector.introspect(s.token)).toMatchObject({ active: true });
  });
});
