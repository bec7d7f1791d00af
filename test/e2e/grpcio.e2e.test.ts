import { execFile, execFileSync } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot } from "../support/service-process.js";
import { startTestApp, type TestApp } from "../support/test-app.js";

/**
 * A third-party gRPC stack: Python's grpcio with a strict protobuf DescriptorPool, schema from
 * server reflection only (test/support/grpcio_client.py). Debian's python3-grpcio and
 * python3-protobuf (.ci/run installs them); without them this file is skipped, saying why.
 */
const PYTHON = "/usr/bin/python3";
function grpcioMissing(): string | undefined {
  try {
    execFileSync(PYTHON, ["-c", "import grpc, google.protobuf"], { stdio: "pipe" });
    return undefined;
  } catch {
    return `${PYTHON} cannot import grpc and google.protobuf (apt-get install python3-grpcio python3-protobuf)`;
  }
}
const missing = grpcioMissing();
if (missing) console.log(`grpcio client test skipped: ${missing}`);

let t: TestApp;
beforeAll(async () => {
  if (!missing) t = await startTestApp();
});
afterAll(async () => {
  await t?.close();
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON a client program printed, checked by the assertions
type ClientAnswer = Record<string, any>;

const runClient = (version: string, ...mode: string[]) =>
  new Promise<ClientAnswer>((resolve, reject) => {
    execFile(
      PYTHON,
      [join(repoRoot, "test/support/grpcio_client.py"), t.address, t.adminKey, version, ...mode],
      { timeout: 30_000 },
      (err, stdout, stderr) =>
        err
          ? reject(new Error(`grpcio client failed: ${stderr.slice(-800)}`))
          : resolve(JSON.parse(stdout) as ClientAnswer),
    );
  });

describe.skipIf(missing !== undefined).each(["v1", "v1alpha"])("python grpcio with reflection %s", (version) => {
  it("links every reflected file in a strict DescriptorPool and calls CreateKey, Introspect, ListKeys", async () => {
    const out = await runClient(version);
    expect(out.services).toEqual([
      "envoy.service.auth.v3.Authorization",
      "grpc.health.v1.Health",
      "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection",
      "warpflow.auth.v1.TokenService",
    ]);
    expect(out.files).toEqual(
      expect.arrayContaining([
        "google/protobuf/timestamp.proto",
        "grpc/health/v1/health.proto",
        "warpflow/auth/v1/token_service.proto",
      ]),
    );
    const tenant = `grpcio-${version}`;
    expect(out.created.token).toMatch(new RegExp(`^wf_${tenant}_[0-9A-Za-z]{38}$`));
    expect(out.introspected).toEqual({
      active: true,
      tokenType: "TOKEN_TYPE_API_KEY",
      tenantId: tenant,
      keyId: out.created.key.id,
    });
    expect(out.listed.keys.map((k: { id: string }) => k.id)).toEqual([out.created.key.id]);
  });
});

describe.skipIf(missing !== undefined)("python grpcio: WatchInvalidations (issue 20)", () => {
  it("subscribes (schema from reflection) and sees a revoke's invalidation", async () => {
    const out = await runClient("v1", "watch");
    expect(out.messages[0]).toMatchObject({ reset: { reason: "RESET_REASON_START" } });
    expect(out.messages.at(-1)).toMatchObject({
      invalidation: { kind: "INVALIDATION_KIND_KEY_REVOKED", tenantId: "grpcio-v1", keyId: out.key_id },
    });
    expect(out.messages.some((m: ClientAnswer) => m.invalidation?.kind === "INVALIDATION_KIND_KEY_CREATED")).toBe(true);
  });
});

describe.skipIf(missing !== undefined)("python grpcio: scopes and IP allowlists (issue 22)", () => {
  it("creates, introspects, rotates and creates a session with the new fields, schema from reflection only", async () => {
    const out = await runClient("v1", "scopes");
    expect([out.created.scopes, out.created.allowedCidrs]).toEqual([
      ["reports:read", "deals:read"],
      ["10.0.0.0/8", "2001:db8::/32"],
    ]);
    const a = out.answers;
    expect([a.inside.active, a.inside.scopes]).toEqual([true, ["reports:read", "deals:read"]]);
    expect(a.inside_v6_scoped.active).toBe(true);
    expect(a.mapped.active).toBe(true);
    expect(a.outside).toEqual({ inactiveReason: "INACTIVE_REASON_ADDRESS_NOT_ALLOWED" });
    expect(a.no_address).toEqual({ inactiveReason: "INACTIVE_REASON_ADDRESS_NOT_ALLOWED" });
    expect(a.lacking).toEqual({ inactiveReason: "INACTIVE_REASON_INSUFFICIENT_SCOPE" });
    expect([out.rotated.scopes, out.rotated.allowedCidrs]).toEqual([["deals:read"], ["10.0.0.0/8", "2001:db8::/32"]]);
    expect([out.cleared.scopes, out.cleared.allowedCidrs]).toEqual([["deals:read"], undefined]);
    expect(out.cleared_anywhere).toMatchObject({ active: true, scopes: ["deals:read"] });
    expect(out.session.scopes).toEqual(["reports:read"]);
    expect(out.session_lacking).toEqual({ inactiveReason: "INACTIVE_REASON_INSUFFICIENT_SCOPE" });
    expect(out.bad_cidr).toEqual({
      code: "INVALID_ARGUMENT",
      details: "allowed_cidrs[0]: must be an IPv4 or IPv6 CIDR (e.g. 10.0.0.0/8, 2001:db8::/32)",
    });
    expect(out.bad_address.code).toBe("INVALID_ARGUMENT");
    expect(out.bad_address.details).not.toContain("not-an-address");
  });
});
describe.skipIf(missing !== undefined)(
  "python grpcio: expiry, the tenant maximum, suspend and resume (issue 22)",
  () => {
    it("sets the maximum with an update mask, creates expiring keys, sees EXPIRED after the instant and SUSPENDED while suspended", async () => {
      const out = await runClient("v1", "expiry");
      expect(out.policy.policy).toMatchObject({ maxKeyLifetime: "2592000s" });
      expect(out.policy.policy.hipaaEnabled).toBeUndefined(); // false: kept
      const shortExpiry = Date.parse(out.short.expiresAt);
      expect(shortExpiry - Date.parse(out.short.createdAt)).toBe(1000);
      expect(out.active).toMatchObject({ active: true, expiresAt: out.short.expiresAt });
      expect(out.expired).toEqual({ inactiveReason: "INACTIVE_REASON_EXPIRED" });
      expect(Date.parse(out.default.expiresAt) - Date.parse(out.default.createdAt)).toBe(30 * 24 * 3600_000);
      expect(out.suspended.suspendedAt).toBeDefined();
      expect(out.while_suspended).toEqual({ inactiveReason: "INACTIVE_REASON_SUSPENDED" });
      expect(out.resumed).toMatchObject({ active: true, expiresAt: out.default.expiresAt });
      expect(out.too_long.code).toBe("INVALID_ARGUMENT");
      expect(out.too_long.details).toMatch(/^expires_in: .*max_key_lifetime of 30d/);
      expect(out.past).toEqual({ code: "INVALID_ARGUMENT", details: "expires_at: must be in the future" });
      expect(out.bad_mask.code).toBe("INVALID_ARGUMENT");
      expect(out.bad_mask.details).toMatch(/^update_mask: /);
      expect(out.bad_mask.details).not.toContain("tokenHash");
      expect(out.bad_mask.details).not.toContain("token_hash");
    });
  },
);
