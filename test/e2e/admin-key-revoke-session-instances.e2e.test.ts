import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMemoryTokenStore } from "../../src/adapters/memory/memory-token-store.js";
import { codeOf } from "../support/codes.js";
import { createManualClock } from "../support/manual-clock.js";
import { startTestApp, type TestApp } from "../support/test-app.js";

/**
 * Two instances on one store, with a 60 s cache and no change feed between them (the embedded
 * store has none: the cache TTL is the cross-instance bound; with MongoDB, a feed that is down or
 * late). Instance B still has a revoked admin key's answer cached; nothing that key asks of B may
 * succeed: not a session (which would outlive the revoke that instance A finished, sessions walk
 * included), not an admin key (a permanent foothold), not a tenant key.
 */
const clock = createManualClock(new Date());
const store = createMemoryTokenStore();
let a: TestApp;
let b: TestApp;
beforeAll(async () => {
  const opts = { clock, store, logLevel: "warn", env: { CACHE_TTL_MS: "60000" } };
  a = await startTestApp(opts);
  b = await startTestApp(opts);
});
afterAll(async () => {
  await b?.close();
  await a?.close();
});

describe("CreateSession with an admin key revoked on another instance", () => {
  it("is UNAUTHENTICATED and leaves no live session, though the instance still has the key cached", async () => {
    const leaked = await a.grpc.createAdminKey({ label: "leaked" }, { bearer: a.adminKey });
    const bearer = { bearer: leaked.token };
    const before = await b.grpc.createSession({ tenantId: "acme" }, bearer); // B caches the key's answer
    await a.grpc.revokeKey({ tenantId: "admin", keyId: leaked.key!.id }, { bearer: a.adminKey });
    expect(await b.grpc.introspect({ token: before.token })).toMatchObject({ active: false }); // the walk's

    expect(await codeOf(b.grpc.createSession({ tenantId: "acme" }, bearer))).toBe("UNAUTHENTICATED");
    // Nothing minted by the key is live: a retried walk finds none.
    const live = await store.revokeSessionsCreatedBy({
      createdBy: leaked.key!.id,
      revokedAt: clock.now(),
      revokedBy: "test",
    });
    expect(live).toBe(0);
  });

  it("mints no admin key and no tenant key either: an admin credential is read from the store on every admin call", async () => {
    const leaked = await a.grpc.createAdminKey({ label: "leaked 2" }, { bearer: a.adminKey });
    const bearer = { bearer: leaked.token };
    await b.grpc.listKeys({ tenantId: "acme" }, bearer); // B caches the key's answer
    await a.grpc.revokeKey({ tenantId: "admin", keyId: leaked.key!.id }, { bearer: a.adminKey });
    expect(await codeOf(b.grpc.createAdminKey({ label: "foothold" }, bearer))).toBe("UNAUTHENTICATED");
    expect(await codeOf(b.grpc.createKey({ tenantId: "acme", label: "foothold" }, bearer))).toBe("UNAUTHENTICATED");
    expect(await codeOf(b.grpc.listKeys({ tenantId: "acme" }, bearer))).toBe("UNAUTHENTICATED");
    const admins = await a.grpc.listKeys({ tenantId: "admin" }, { bearer: a.adminKey });
    expect(admins.keys.filter((k) => k.label === "foothold")).toHaveLength(0);
  });

  it("a rotated admin key still cached as active on the instance may not manage admin keys there either (no foothold, no revoking its successor)", async () => {
    const old = await a.grpc.createAdminKey({ label: "rotated elsewhere" }, { bearer: a.adminKey });
    const asOld = { bearer: old.token };
    await b.grpc.listKeys({ tenantId: "acme" }, asOld); // B caches the key's answer: active, not deprecated
    const rotated = await a.grpc.rotateKey({ tenantId: "admin", keyId: old.key!.id }, { bearer: a.adminKey });
    // Was: OK on B, a permanent admin key minted by the replaced one (the same call is
    // PERMISSION_DENIED on A, and on B once its cache entry expires).
    expect(await codeOf(b.grpc.createAdminKey({ label: "rotation foothold" }, asOld))).toBe("PERMISSION_DENIED");
    const successor = { tenantId: "admin", keyId: rotated.key!.id };
    expect(await codeOf(b.grpc.revokeKey(successor, asOld))).toBe("PERMISSION_DENIED");
    expect(await a.grpc.introspect({ token: rotated.token })).toMatchObject({ active: true, admin: true });
    // Its grace goes on: everything else it still does there.
    expect(await codeOf(b.grpc.listKeys({ tenantId: "acme" }, asOld))).toBe("OK");
    const admins = await a.grpc.listKeys({ tenantId: "admin" }, { bearer: a.adminKey });
    expect(admins.keys.filter((k) => k.label === "rotation foothold")).toHaveLength(0);
  });
});
