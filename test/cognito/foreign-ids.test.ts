import { beforeAll, describe, expect, it } from "vitest";
import { KeyStatus } from "../../src/gen/warpflow/auth/v1/token_service_pb.js";
import { type TestKey, cognitoClaims, cognitoKeyEnv, signJwt } from "../support/jwt.js";
import { useTestApp } from "../support/test-app.js";
import { failureOf } from "../support/codes.js";

/**
 * Tenant isolation: a Cognito tenant admin of globex names ids of acme's keys,
 * endpoints and sessions, under its own tenant (the id is not found there) and under acme (refused).
 * Nothing of acme changes, and no answer tells an acme id from an id that does not exist.
 */
let key: TestKey;
let globexAdmin: string;
const t = useTestApp(async () => {
  const c = cognitoKeyEnv({ WEBHOOK_DELIVERY: "off" });
  key = c.key;
  return { env: c.env };
});
const asAdmin = () => ({ bearer: t.adminKey });

beforeAll(() => {
  globexAdmin = signJwt(
    key,
    cognitoClaims({ tenantId: "globex", sub: "33333333-cccc-4000-8000-globexadmin1", groups: ["tenant-admins"] }),
  );
});

/** The same id shape as a real one, never issued. */
const unknownKeyId = "key_00000000000000000000";
const unknownEndpointId = "wh_0000000000000000000000";

describe("another tenant's ids", () => {
  it("key ids of acme named under globex: NOT_FOUND exactly as an unknown id, acme's key untouched", async () => {
    const acmeKey = (await t.grpc.createKey({ tenantId: "acme", label: "victim" }, asAdmin())).key!;
    const bearer = { bearer: globexAdmin };
    const calls = {
      rotate: (keyId: string) => t.grpc.rotateKey({ tenantId: "globex", keyId }, bearer),
      revoke: (keyId: string) => t.grpc.revokeKey({ tenantId: "globex", keyId }, bearer),
      suspend: (keyId: string) => t.grpc.suspendKey({ tenantId: "globex", keyId }, bearer),
      resume: (keyId: string) => t.grpc.resumeKey({ tenantId: "globex", keyId }, bearer),
    };
    for (const [name, call] of Object.entries(calls)) {
      const real = await failureOf(call(acmeKey.id));
      const unknown = await failureOf(call(unknownKeyId));
      expect({ name, code: real.code }).toEqual({ name, code: "NOT_FOUND" });
      expect(real.details.replace(acmeKey.id, "ID")).toBe(unknown.details.replace(unknownKeyId, "ID"));
    }
    const after = (await t.grpc.listKeys({ tenantId: "acme" }, asAdmin())).keys.find((k) => k.id === acmeKey.id)!;
    expect(after.status).toBe(KeyStatus.ACTIVE);
    expect(after.suspendedAt).toBeUndefined();
  });

  it("the same calls naming acme are PERMISSION_DENIED with one message whether the id exists or not", async () => {
    const acmeKey = (await t.grpc.createKey({ tenantId: "acme", label: "victim 2" }, asAdmin())).key!;
    const bearer = { bearer: globexAdmin };
    const real = await failureOf(t.grpc.revokeKey({ tenantId: "acme", keyId: acmeKey.id }, bearer));
    const unknown = await failureOf(t.grpc.revokeKey({ tenantId: "acme", keyId: unknownKeyId }, bearer));
    expect(real.code).toBe("PERMISSION_DENIED");
    expect(real.details).toBe(unknown.details);
  });

  it("webhook endpoint ids of acme named under globex: NOT_FOUND as an unknown id; the secret is not rotated", async () => {
    const created = await t.grpc.createWebhookEndpoint({ tenantId: "acme", url: "https://hooks.example/a" }, asAdmin());
    const id = created.endpoint!.id;
    const bearer = { bearer: globexAdmin };
    const rotate = await failureOf(t.grpc.rotateWebhookSecret({ tenantId: "globex", endpointId: id }, bearer));
    const rotateUnknown = await failureOf(
      t.grpc.rotateWebhookSecret({ tenantId: "globex", endpointId: unknownEndpointId }, bearer),
    );
    expect(rotate).toEqual(rotateUnknown);
    expect(rotate.code).toBe("NOT_FOUND");
    const del = await failureOf(t.grpc.deleteWebhookEndpoint({ tenantId: "globex", endpointId: id }, bearer));
    expect(del.code).toBe("NOT_FOUND");
    const listed = (await t.grpc.listWebhookEndpoints({ tenantId: "acme" }, asAdmin())).endpoints;
    expect(listed.find((e) => e.id === id)?.previousSecretExpiresAt).toBeUndefined();
  });

  it("globex's audit listing never shows acme's events, whatever page token it crafts", async () => {
    await t.grpc.createKey({ tenantId: "acme", label: "audited" }, asAdmin());
    const bearer = { bearer: globexAdmin };
    const own = await t.grpc.listAuditEvents({ tenantId: "globex" }, bearer);
    expect(own.events.every((e) => e.tenantId === "globex")).toBe(true);
    // A token naming acme, presented for globex: refused, not a view of acme.
    const acmePage = (await t.grpc.listAuditEvents({ tenantId: "acme", pageSize: 1 }, asAdmin())).nextPageToken;
    expect(acmePage).not.toBe("");
    expect((await failureOf(t.grpc.listAuditEvents({ tenantId: "globex", pageToken: acmePage }, bearer))).code).toBe(
      "INVALID_ARGUMENT",
    );
    expect((await failureOf(t.grpc.listAuditEvents({ tenantId: "acme", pageToken: acmePage }, bearer))).code).toBe(
      "PERMISSION_DENIED",
    );
  });
});
