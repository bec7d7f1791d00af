import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { KeyStatus } from "../../src/gen/warpflow/auth/v1/token_service_pb.js";
import { createManualClock, HOUR } from "../support/manual-clock.js";
import { useTestApp } from "../support/test-app.js";

/**
 * Issue 13, item 5: rotation must not multiply keys. A tenant holds at most 3 DEPRECATED keys in
 * their grace; the rotation that would make a 4th answers RESOURCE_EXHAUSTED (gRPC and Connect)
 * naming the limit, issues nothing, and leaves the key active. (Before the limit, ten rotations in
 * a row left 11 keys introspecting active.)
 */
const clock = createManualClock();
const t = useTestApp({ clock, logLevel: "warn" });

describe("RotateKey: at most 3 deprecated keys in grace per tenant", () => {
  it("answers RESOURCE_EXHAUSTED on the rotation that would make a 4th, over gRPC and Connect", async () => {
    const admin = { bearer: t.adminKey };
    const created = await t.grpc.createKey({ tenantId: "rotlimit", label: "ci" }, admin);
    let current = created.key!;
    const tokens = [created.token];
    for (let i = 0; i < 3; i++) {
      const r = await t.grpc.rotateKey({ tenantId: "rotlimit", keyId: current.id }, admin);
      current = r.key!;
      tokens.push(r.token);
    }
    const err = await t.grpc.rotateKey({ tenantId: "rotlimit", keyId: current.id }, admin).then(
      () => undefined,
      (e: { code: number; details: string }) => e,
    );
    expect(err?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(err?.details).toMatch(/3 deprecated keys/);
    expect(err?.details).toMatch(/revoke a deprecated key first/);

    const connect = await fetch(`${t.baseUrl}/warpflow.auth.v1.TokenService/RotateKey`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${t.adminKey}` },
      body: JSON.stringify({ tenantId: "rotlimit", keyId: current.id }),
    });
    expect(connect.status).toBe(429);
    expect(await connect.json()).toMatchObject({
      code: "resource_exhausted",
      message: expect.stringMatching(/3 deprecated keys/),
    });

    // Nothing was issued: 1 active + 3 deprecated, exactly 4 tokens introspect active.
    const listed = await t.grpc.listKeys({ tenantId: "rotlimit" }, admin);
    expect(listed.keys.filter((k) => k.status === KeyStatus.ACTIVE).map((k) => k.id)).toEqual([current.id]);
    expect(listed.keys.filter((k) => k.status === KeyStatus.DEPRECATED)).toHaveLength(3);
    const active = await Promise.all(tokens.map((token) => t.grpc.introspect({ token })));
    expect(active.every((r) => r.active)).toBe(true);

    // Revoking a deprecated key frees its place; so does the end of a grace period.
    const oldest = listed.keys.find((k) => k.status === KeyStatus.DEPRECATED && k.id === created.key!.id)!;
    await t.grpc.revokeKey({ tenantId: "rotlimit", keyId: oldest.id }, admin);
    const again = await t.grpc.rotateKey({ tenantId: "rotlimit", keyId: current.id }, admin);
    await expect(t.grpc.rotateKey({ tenantId: "rotlimit", keyId: again.key!.id }, admin)).rejects.toMatchObject({
      code: status.RESOURCE_EXHAUSTED,
    });
    clock.advance(72 * HOUR);
    const afterGrace = await t.grpc.rotateKey({ tenantId: "rotlimit", keyId: again.key!.id }, admin);
    expect(afterGrace.previousKey?.status).toBe(KeyStatus.DEPRECATED);
  });
});
