import { describe, expect, it } from "vitest";
import { createMemoryTokenStore } from "../../src/adapters/memory/memory-token-store.js";
import { InactiveReason } from "../../src/gen/warpflow/auth/v1/token_service_pb.js";
import type { StoreChange, StoreChangeFeed } from "../../src/ports/store-changes.js";
import { useTestApp } from "../support/test-app.js";

/**
 * The change feed -> cache wiring of src/app/app.ts, through the real service (gRPC): another
 * instance's revoke, policy change or a feed reset reaches this instance's Introspect cache when the
 * feed delivers the event, not after CACHE_TTL_MS. "Another instance" is a direct write to the
 * shared store (which this instance's cache cannot see); the feed is a hand-driven StoreChangeFeed,
 * standing in for the MongoDB change stream (src/adapters/mongo/mongo-change-feed.ts), which needs a
 * replica set this machine does not have.
 */
const raw = createMemoryTokenStore();
const listeners = new Set<(c: StoreChange) => void>();
const feed: StoreChangeFeed = {
  subscribe(listener) {
    listeners.add(listener);
    return () => listeners.delete(listener);
  },
};
const emit = (c: StoreChange) => {
  for (const l of listeners) l(c);
};
const admin = () => ({ bearer: t.adminKey });

const t = useTestApp(async () => {
  // A minute of cache (the maximum): only the feed can make a change visible within this test.
  return { store: raw, changes: feed, env: { CACHE_TTL_MS: "60000" }, logLevel: "warn" };
});

describe("change feed -> Introspect cache (createApp wiring)", () => {
  it("subscribes once at start", () => {
    expect(listeners.size).toBe(1);
  });

  it("a key event drops that key: a revoke made elsewhere is seen on the next call", async () => {
    const { token, key } = await t.grpc.createKey({ tenantId: "acme", label: "feed" }, admin());
    expect((await t.grpc.introspect({ token })).active).toBe(true); // now cached for a minute
    await raw.revokeKey({ tenantId: "acme", keyId: key!.id, revokedAt: new Date(), revokedBy: "other-instance" });
    expect((await t.grpc.introspect({ token })).active).toBe(true); // stale: the cache does not know yet
    emit({ kind: "key", keyId: key!.id });
    expect(await t.grpc.introspect({ token })).toMatchObject({ active: false, inactiveReason: InactiveReason.REVOKED });
  });

  it("a policy event drops that tenant's policy: HIPAA switched on elsewhere applies on the next call", async () => {
    const { token } = await t.grpc.createKey({ tenantId: "clinic", label: "feed" }, admin());
    expect((await t.grpc.introspect({ token })).active).toBe(true);
    await raw.setPolicy({ tenantId: "clinic", hipaaEnabled: true, updatedAt: new Date(), updatedBy: "other-instance" });
    expect((await t.grpc.introspect({ token })).active).toBe(true);
    emit({ kind: "policy", tenantId: "clinic" });
    expect(await t.grpc.introspect({ token })).toMatchObject({
      active: false,
      inactiveReason: InactiveReason.TENANT_POLICY,
    });
  });

  it("a reset drops everything cached", async () => {
    const a = await t.grpc.createKey({ tenantId: "reset-a", label: "x" }, admin());
    const b = await t.grpc.createKey({ tenantId: "reset-b", label: "x" }, admin());
    for (const k of [a, b]) expect((await t.grpc.introspect({ token: k.token })).active).toBe(true);
    for (const k of [a, b])
      await raw.revokeKey({
        tenantId: k.key!.tenantId,
        keyId: k.key!.id,
        revokedAt: new Date(),
        revokedBy: "other-instance",
      });
    emit({ kind: "reset" });
    for (const k of [a, b]) expect((await t.grpc.introspect({ token: k.token })).active).toBe(false);
  });

  it("an event for another key leaves this one cached (the invalidation is targeted)", async () => {
    const { token, key } = await t.grpc.createKey({ tenantId: "targeted", label: "x" }, admin());
    expect((await t.grpc.introspect({ token })).active).toBe(true);
    await raw.revokeKey({ tenantId: "targeted", keyId: key!.id, revokedAt: new Date(), revokedBy: "other-instance" });
    emit({ kind: "key", keyId: "key_someotherkey0000000" });
    expect((await t.grpc.introspect({ token })).active).toBe(true); // still the cached answer
    emit({ kind: "key", keyId: key!.id });
    expect((await t.grpc.introspect({ token })).active).toBe(false);
  });

  it("stops watching when the app closes", async () => {
    await t.close();
    expect(listeners.size).toBe(0);
  });
});
