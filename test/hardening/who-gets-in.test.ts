import { describe, expect, it } from "vitest";
import { createMemoryTokenStore } from "../../src/adapters/memory/memory-token-store.js";
import { ROTATION_GRACE_MS } from "../../src/domain/key-rules.js";
import { createManualClock, HOUR } from "../support/manual-clock.js";
import { useTestApp } from "../support/test-app.js";
import { codeOf } from "../support/codes.js";

/**
 * Admin credentials over their lifecycle, end to end (gRPC, Connect JSON, REST): a revoked admin
 * key is refused on the very next call, a deprecated (rotated) admin key works until its 72-hour
 * grace ends and not one second longer, and may not manage admin keys meanwhile. The token cache is set to a long TTL (60 s) so that "at
 * once" cannot come from a cache entry expiring by chance.
 */
const clock = createManualClock();
const t = useTestApp({ clock, store: createMemoryTokenStore(), logLevel: "warn", env: { CACHE_TTL_MS: "60000" } });

/** One admin call on each protocol with `bearer`; returns the outcome of each. */
async function adminCallEverywhere(bearer: string): Promise<{ grpc: string; connect: number; rest: number }> {
  const grpc = await codeOf(t.grpc.listKeys({ tenantId: "acme" }, { bearer }));
  const connect = (
    await fetch(`${t.baseUrl}/warpflow.auth.v1.TokenService/ListKeys`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${bearer}` },
      body: JSON.stringify({ tenantId: "acme" }),
    })
  ).status;
  const rest = (
    await fetch(`${t.baseUrl}/api/v1/sessions`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${bearer}` },
      body: JSON.stringify({ tenant_id: "acme" }),
    })
  ).status;
  return { grpc, connect, rest };
}
const ALLOWED = { grpc: "OK", connect: 200, rest: 200 };
const REFUSED = { grpc: "UNAUTHENTICATED", connect: 401, rest: 401 };

describe("a revoked admin key", () => {
  it("is refused on the very next call, on every protocol", async () => {
    const { token, key } = await t.grpc.createAdminKey({ label: "ops" }, { bearer: t.adminKey });
    expect(await adminCallEverywhere(token)).toEqual(ALLOWED); // now cached as active
    await t.grpc.revokeKey({ tenantId: "admin", keyId: key!.id }, { bearer: t.adminKey });
    expect(await adminCallEverywhere(token)).toEqual(REFUSED);
    expect(await t.grpc.introspect({ token })).toMatchObject({ active: false });
    // And it stays dead: it cannot be rotated back to life.
    expect(await codeOf(t.grpc.rotateKey({ tenantId: "admin", keyId: key!.id }, { bearer: t.adminKey }))).toBe(
      "FAILED_PRECONDITION",
    );
  });

  it("that revoked itself is refused on its next call", async () => {
    const { token, key } = await t.grpc.createAdminKey({ label: "self" }, { bearer: t.adminKey });
    expect(await codeOf(t.grpc.listKeys({ tenantId: "acme" }, { bearer: token }))).toBe("OK");
    expect(await codeOf(t.grpc.revokeKey({ tenantId: "admin", keyId: key!.id }, { bearer: token }))).toBe("OK");
    expect(await adminCallEverywhere(token)).toEqual(REFUSED);
  });

  it("cannot revoke, rotate or create anything after revocation (no write with a dead key)", async () => {
    const { token, key } = await t.grpc.createAdminKey({ label: "dead" }, { bearer: t.adminKey });
    await t.grpc.revokeKey({ tenantId: "admin", keyId: key!.id }, { bearer: t.adminKey });
    expect(await codeOf(t.grpc.createKey({ tenantId: "acme", label: "x" }, { bearer: token }))).toBe("UNAUTHENTICATED");
    expect(await codeOf(t.grpc.createAdminKey({ label: "x" }, { bearer: token }))).toBe("UNAUTHENTICATED");
    expect(await codeOf(t.grpc.revokeKey({ tenantId: "admin", keyId: key!.id }, { bearer: token }))).toBe(
      "UNAUTHENTICATED",
    );
    expect(await codeOf(t.grpc.setTenantPolicy({ tenantId: "acme", hipaaEnabled: true }, { bearer: token }))).toBe(
      "UNAUTHENTICATED",
    );
  });
});

describe("a deprecated (rotated) admin key", () => {
  it("works through its 72-hour grace and is refused from the instant it ends", async () => {
    const old = await t.grpc.createAdminKey({ label: "rotating" }, { bearer: t.adminKey });
    const rotatedAt = clock.now().getTime();
    const rotated = await t.grpc.rotateKey({ tenantId: "admin", keyId: old.key!.id }, { bearer: t.adminKey });
    expect(Number(rotated.previousKey!.revokeAt!.seconds) * 1000).toBe(rotatedAt + ROTATION_GRACE_MS);

    expect(await adminCallEverywhere(old.token)).toEqual(ALLOWED);
    expect(await t.grpc.introspect({ token: old.token })).toMatchObject({
      active: true,
      admin: true,
      deprecated: true,
    });
    clock.set(new Date(rotatedAt + 71 * HOUR));
    expect(await adminCallEverywhere(old.token)).toEqual(ALLOWED);
    clock.set(new Date(rotatedAt + ROTATION_GRACE_MS - 1000));
    expect(await adminCallEverywhere(old.token)).toEqual(ALLOWED); // cached as active now
    clock.set(new Date(rotatedAt + ROTATION_GRACE_MS));
    expect(await adminCallEverywhere(old.token)).toEqual(REFUSED); // the cache cannot extend it
    expect(await t.grpc.introspect({ token: old.token })).toMatchObject({ active: false });
    // The successor works throughout and after.
    expect(await adminCallEverywhere(rotated.token)).toEqual(ALLOWED);
    clock.set(new Date(rotatedAt + 1000 * HOUR));
    expect(await adminCallEverywhere(old.token)).toEqual(REFUSED);
    expect(await adminCallEverywhere(rotated.token)).toEqual(ALLOWED);
  });

  it("may not manage admin keys during its grace: no minting, no revoking or rotating its successor", async () => {
    const old = await t.grpc.createAdminKey({ label: "rotating 3" }, { bearer: t.adminKey });
    const rotated = await t.grpc.rotateKey({ tenantId: "admin", keyId: old.key!.id }, { bearer: t.adminKey });
    const asOld = { bearer: old.token };
    const successor = { tenantId: "admin", keyId: rotated.key!.id };
    // Whoever holds a replaced admin key could otherwise mint a permanent one, or lock the operator out.
    expect(await codeOf(t.grpc.createAdminKey({ label: "persistence" }, asOld))).toBe("PERMISSION_DENIED");
    expect(await codeOf(t.grpc.revokeKey(successor, asOld))).toBe("PERMISSION_DENIED");
    expect(await codeOf(t.grpc.rotateKey(successor, asOld))).toBe("PERMISSION_DENIED");
    expect(await t.grpc.introspect({ token: rotated.token })).toMatchObject({ active: true, admin: true });
    // Everything else it still does until its grace ends (its tools are switching over).
    expect(await adminCallEverywhere(old.token)).toEqual(ALLOWED);
    expect(await codeOf(t.grpc.createKey({ tenantId: "grace-tenant", label: "x" }, asOld))).toBe("OK");
    // The successor manages admin keys as before: it revokes the key it replaced (and is then
    // revoked itself: the tenant's three active admin keys are for the other cases of this file).
    expect(await codeOf(t.grpc.revokeKey({ tenantId: "admin", keyId: old.key!.id }, { bearer: rotated.token }))).toBe(
      "OK",
    );
    await t.grpc.revokeKey(successor, { bearer: t.adminKey });
  });

  it("revoked during its grace is refused at once", async () => {
    const old = await t.grpc.createAdminKey({ label: "rotating 2" }, { bearer: t.adminKey });
    await t.grpc.rotateKey({ tenantId: "admin", keyId: old.key!.id }, { bearer: t.adminKey });
    expect(await adminCallEverywhere(old.token)).toEqual(ALLOWED);
    await t.grpc.revokeKey({ tenantId: "admin", keyId: old.key!.id }, { bearer: t.adminKey });
    expect(await adminCallEverywhere(old.token)).toEqual(REFUSED);
  });
});
