import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { InactiveReason, KeyStatus, TokenType } from "../../src/gen/warpflow/auth/v1/token_service_pb.js";
import { useTestApp } from "../support/test-app.js";
import { codeOf } from "../support/codes.js";

/** Every RPC over real gRPC (HTTP/2, @grpc/grpc-js client) against a real server on port 0. */
const t = useTestApp();

describe("gRPC end to end", () => {
  it("issues a key, introspects it, lists it, rotates and revokes it", async () => {
    const admin = { bearer: t.adminKey };
    const created = await t.grpc.createKey({ tenantId: "acme", label: "CRM Sync" }, admin);
    expect(created.token).toMatch(/^wf_acme_[0-9A-Za-z]{38}$/);
    expect(created.key?.status).toBe(KeyStatus.ACTIVE);
    expect(created.key?.hint).toBe(`wf_acme_...${created.token.slice(-4)}`);
    expect(JSON.stringify(created.key, (_k, v) => (typeof v === "bigint" ? String(v) : v))).not.toContain(
      created.token.slice(8, 40),
    );

    const active = await t.grpc.introspect({ token: created.token });
    expect(active).toMatchObject({
      active: true,
      tokenType: TokenType.API_KEY,
      tenantId: "acme",
      keyId: created.key!.id,
      deprecated: false,
      admin: false,
    });

    const mismatch = await t.grpc.introspect({ token: created.token, expectedTenantId: "other" });
    expect(mismatch).toMatchObject({
      active: false,
      inactiveReason: InactiveReason.TENANT_MISMATCH,
      tenantId: "",
      keyId: "",
    });

    const listed = await t.grpc.listKeys({ tenantId: "acme" }, admin);
    expect(listed.keys.map((k) => k.id)).toEqual([created.key!.id]);
    expect(listed.keys[0]!.lastUsedAt).toBeDefined(); // the introspection above counts

    const rotated = await t.grpc.rotateKey({ tenantId: "acme", keyId: created.key!.id }, admin);
    expect(rotated.previousKey?.status).toBe(KeyStatus.DEPRECATED);
    expect(rotated.previousKey?.rotatedToKeyId).toBe(rotated.key!.id);
    const grace = Number(rotated.previousKey!.revokeAt!.seconds) - Number(rotated.key!.createdAt!.seconds);
    expect(grace).toBe(72 * 3600);
    expect(await t.grpc.introspect({ token: created.token })).toMatchObject({ active: true, deprecated: true });
    expect(await t.grpc.introspect({ token: rotated.token })).toMatchObject({ active: true, deprecated: false });

    const revoked = await t.grpc.revokeKey({ tenantId: "acme", keyId: rotated.key!.id }, admin);
    expect(revoked.key?.status).toBe(KeyStatus.REVOKED);
    expect(await t.grpc.introspect({ token: rotated.token })).toMatchObject({
      active: false,
      inactiveReason: InactiveReason.REVOKED,
    });
    const again = await t.grpc.revokeKey({ tenantId: "acme", keyId: rotated.key!.id }, admin);
    expect(again.key).toEqual(revoked.key);
  });

  it("creates sessions that introspect as 1-hour session tokens", async () => {
    const s = await t.grpc.createSession({ tenantId: "acme" }, { bearer: t.adminKey });
    expect(s.token).toMatch(/^sess_acme_/);
    const ttl = Number(s.expiresAt!.seconds) * 1000 - Date.now();
    expect(ttl).toBeGreaterThan(3590_000);
    expect(ttl).toBeLessThanOrEqual(3600_000);
    const r = await t.grpc.introspect({ token: s.token });
    expect(r).toMatchObject({ active: true, tokenType: TokenType.SESSION, tenantId: "acme", sessionId: s.sessionId });
  });

  it("answers inactive reasons and INVALID_ARGUMENT for an empty token", async () => {
    expect((await t.grpc.introspect({ token: "nonsense" })).inactiveReason).toBe(InactiveReason.MALFORMED);
    const { token } = await t.grpc.createKey({ tenantId: "beta", label: "x" }, { bearer: t.adminKey });
    const flipped = token.slice(0, 20) + (token[20] === "a" ? "b" : "a") + token.slice(21);
    expect((await t.grpc.introspect({ token: flipped })).inactiveReason).toBe(InactiveReason.MALFORMED);
    expect(await codeOf(t.grpc.introspect({ token: "" }))).toBe("INVALID_ARGUMENT");
  });

  it("enforces HIPAA policy: no new keys, existing keys inactive, sessions still work", async () => {
    const admin = { bearer: t.adminKey };
    const { token } = await t.grpc.createKey({ tenantId: "clinic", label: "before" }, admin);
    const set = await t.grpc.setTenantPolicy({ tenantId: "clinic", hipaaEnabled: true }, admin);
    expect(set.policy?.hipaaEnabled).toBe(true);
    expect((await t.grpc.getTenantPolicy({ tenantId: "clinic" }, admin)).policy?.hipaaEnabled).toBe(true);
    expect((await t.grpc.introspect({ token })).inactiveReason).toBe(InactiveReason.TENANT_POLICY);
    expect(await codeOf(t.grpc.createKey({ tenantId: "clinic", label: "after" }, admin))).toBe("FAILED_PRECONDITION");
    const s = await t.grpc.createSession({ tenantId: "clinic" }, admin);
    expect((await t.grpc.introspect({ token: s.token })).active).toBe(true);
    await t.grpc.setTenantPolicy({ tenantId: "clinic", hipaaEnabled: false }, admin);
    expect((await t.grpc.introspect({ token })).active).toBe(true);
  });

  it("limits a tenant to 3 active keys, also when 50 CreateKey calls race", async () => {
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        codeOf(t.grpc.createKey({ tenantId: "race", label: `k${i}` }, { bearer: t.adminKey })),
      ),
    );
    expect(results.filter((c) => c === "OK")).toHaveLength(3);
    expect(results.filter((c) => c === "RESOURCE_EXHAUSTED")).toHaveLength(47);
    const keys = (await t.grpc.listKeys({ tenantId: "race" }, { bearer: t.adminKey })).keys;
    expect(keys.filter((k) => k.status === KeyStatus.ACTIVE)).toHaveLength(3);
  });

  it("authenticates admin RPCs: none/invalid UNAUTHENTICATED, tenant key and session PERMISSION_DENIED", async () => {
    const { token: tenantKey } = await t.grpc.createKey({ tenantId: "gamma", label: "x" }, { bearer: t.adminKey });
    const { token: session } = await t.grpc.createSession({ tenantId: "gamma" }, { bearer: t.adminKey });
    expect(await codeOf(t.grpc.listKeys({ tenantId: "gamma" }))).toBe("UNAUTHENTICATED");
    expect(await codeOf(t.grpc.listKeys({ tenantId: "gamma" }, { bearer: "wf_admin_bogus" }))).toBe("UNAUTHENTICATED");
    expect(await codeOf(t.grpc.listKeys({ tenantId: "gamma" }, { bearer: tenantKey }))).toBe("PERMISSION_DENIED");
    expect(await codeOf(t.grpc.createSession({ tenantId: "gamma" }, { bearer: session }))).toBe("PERMISSION_DENIED");
  });

  it("validates fields with messages naming them", async () => {
    const admin = { bearer: t.adminKey };
    await expect(t.grpc.createKey({ tenantId: "Bad!", label: "x" }, admin)).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: expect.stringContaining("tenant_id"),
    });
    await expect(t.grpc.createKey({ tenantId: "acme", label: "" }, admin)).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: expect.stringContaining("label"),
    });
    await expect(t.grpc.createKey({ tenantId: "acme", label: "a\u0007b" }, admin)).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: expect.stringContaining("label"),
    });
    await expect(t.grpc.createKey({ tenantId: "admin", label: "x" }, admin)).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: expect.stringContaining("reserved"),
    });
    await expect(t.grpc.revokeKey({ tenantId: "acme", keyId: "nope" }, admin)).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: expect.stringContaining("key_id"),
    });
  });

  it("hides keys of other tenants: NOT_FOUND", async () => {
    const admin = { bearer: t.adminKey };
    const { key } = await t.grpc.createKey({ tenantId: "delta", label: "x" }, admin);
    expect(await codeOf(t.grpc.revokeKey({ tenantId: "epsilon", keyId: key!.id }, admin))).toBe("NOT_FOUND");
    expect(await codeOf(t.grpc.rotateKey({ tenantId: "epsilon", keyId: key!.id }, admin))).toBe("NOT_FOUND");
  });

  it("creates admin keys that work as admin credentials", async () => {
    const created = await t.grpc.createAdminKey({ label: "ops" }, { bearer: t.adminKey });
    expect(created.token).toMatch(/^wf_admin_/);
    expect((await t.grpc.introspect({ token: created.token })).admin).toBe(true);
    const s = await t.grpc.createSession({ tenantId: "acme" }, { bearer: created.token });
    expect(s.tenantId).toBe("acme");
  });
});
