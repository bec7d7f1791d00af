import { describe, expect, it } from "vitest";
import { AuditAction, InactiveReason } from "../../src/gen/warpflow/auth/v1/token_service_pb.js";
import { codeOf } from "../support/codes.js";
import { type TestKey, cognitoClaims, cognitoKeyEnv, signJwt } from "../support/jwt.js";
import { useTestApp } from "../support/test-app.js";

/**
 * A key the platform admin suspended (abuse, an incident under investigation) stays suspended until
 * a platform admin resumes it: the tenant's own admin (a Cognito user in the admin group, possibly
 * the account being investigated) may not lift the platform's hold. A suspension by the tenant's
 * admin stays theirs to lift (and the platform admin's). A platform suspension of a key the tenant
 * already suspended takes the hold over, else the tenant could lift it right after.
 */
let key: TestKey;
const t = useTestApp(async () => {
  const c = cognitoKeyEnv();
  key = c.key;
  return { env: c.env };
});
const platform = () => ({ bearer: t.adminKey });
const tenantAdmin = () => ({
  bearer: signJwt(key, cognitoClaims({ tenantId: "acme", sub: "acme-admin-0001", groups: ["tenant-admins"] })),
});

async function freshKey() {
  const { token, key: k } = await t.grpc.createKey({ tenantId: "acme", label: "held" }, platform());
  return { token, keyId: k!.id };
}
const suspended = async (token: string) => (await t.grpc.introspect({ token })).inactiveReason;

describe("a platform admin's suspension is lifted only by a platform admin", () => {
  it("the tenant admin's ResumeKey of a platform suspension: PERMISSION_DENIED, the key stays suspended", async () => {
    const { token, keyId } = await freshKey();
    await t.grpc.suspendKey({ tenantId: "acme", keyId }, platform());
    const refused = t.grpc.resumeKey({ tenantId: "acme", keyId }, tenantAdmin());
    await expect(refused).rejects.toMatchObject({
      code: 7,
      details: expect.stringMatching(/suspended by a platform admin.*only a platform admin can resume it/),
    });
    expect(await suspended(token)).toBe(InactiveReason.SUSPENDED);
    // The refusal is audited as one (who tried), and the platform admin can still resume.
    const events = (await t.grpc.listAuditEvents({ tenantId: "acme" }, platform())).events;
    const attempt = events.find((e) => e.action === AuditAction.KEY_RESUME && e.keyId === keyId);
    expect([attempt?.code, attempt?.actor?.id]).toEqual(["PERMISSION_DENIED", "acme-admin-0001"]);
    await t.grpc.resumeKey({ tenantId: "acme", keyId }, platform());
    expect((await t.grpc.introspect({ token })).active).toBe(true);
    await t.grpc.revokeKey({ tenantId: "acme", keyId }, platform());
  });

  it("a platform suspension of a key the tenant admin suspended takes the hold over", async () => {
    const { token, keyId } = await freshKey();
    await t.grpc.suspendKey({ tenantId: "acme", keyId }, tenantAdmin());
    const held = (await t.grpc.suspendKey({ tenantId: "acme", keyId }, platform())).key!;
    expect(held.suspendedBy).not.toBe("acme-admin-0001");
    expect(await codeOf(t.grpc.resumeKey({ tenantId: "acme", keyId }, tenantAdmin()))).toBe("PERMISSION_DENIED");
    expect(await suspended(token)).toBe(InactiveReason.SUSPENDED);
    await t.grpc.revokeKey({ tenantId: "acme", keyId }, platform());
  });

  it("the tenant admin's own suspension: the tenant admin or the platform admin resumes it", async () => {
    for (const resumer of [tenantAdmin, platform]) {
      const { token, keyId } = await freshKey();
      await t.grpc.suspendKey({ tenantId: "acme", keyId }, tenantAdmin());
      // A second suspension by the tenant admin changes nothing (the first one's actor stays).
      await t.grpc.suspendKey({ tenantId: "acme", keyId }, tenantAdmin());
      await t.grpc.resumeKey({ tenantId: "acme", keyId }, resumer());
      expect((await t.grpc.introspect({ token })).active).toBe(true);
      await t.grpc.revokeKey({ tenantId: "acme", keyId }, platform());
    }
  });
});
