import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { KeyStatus, TokenService } from "../../src/gen/warpflow/auth/v1/token_service_pb.js";
import {
  cognitoClaims,
  cognitoEnv,
  createTestKey,
  jwksOf,
  signJwt,
  writeTempJson,
  type TestKey,
} from "../support/jwt.js";
import { useTestApp } from "../support/test-app.js";
import { codeOf } from "../support/codes.js";

/**
 * Who may call which admin RPC, over real gRPC against the service started with COGNITO_* and a
 * JWKS file. Every cell asserts the exact status code. The target tenant is always "acme".
 */
let key: TestKey;
const bearers = new Map<Credential, string | undefined>();
const SUB = {
  acmeAdmin: "11111111-aaaa-4000-8000-acme00admin1",
  acmeUser: "22222222-bbbb-4000-8000-acme000user1",
  globexAdmin: "33333333-cccc-4000-8000-globexadmin1",
};

type Credential =
  | "platform admin key"
  | "same-tenant Cognito admin"
  | "same-tenant Cognito non-admin"
  | "other-tenant Cognito admin"
  | "tenant API key"
  | "session token"
  | "expired Cognito admin JWT"
  | "none";
type Rpc =
  | "CreateKey"
  | "RotateKey"
  | "RevokeKey"
  | "ListKeys"
  | "CreateSession"
  | "SetTenantPolicy"
  | "GetTenantPolicy"
  | "CreateAdminKey"
  | "RevokeSession"
  | "RevokeTenantSessions"
  | "ListAuditEvents"
  | "CreateWebhookEndpoint"
  | "ListWebhookEndpoints"
  | "RotateWebhookSecret"
  | "DeleteWebhookEndpoint"
  | "SuspendKey"
  | "ResumeKey";

const OK = "OK";
const DENIED = "PERMISSION_DENIED";
const UNAUTH = "UNAUTHENTICATED";
const all = (code: string): Record<Rpc, string> => ({
  CreateKey: code,
  RotateKey: code,
  RevokeKey: code,
  ListKeys: code,
  CreateSession: code,
  SetTenantPolicy: code,
  GetTenantPolicy: code,
  CreateAdminKey: code,
  RevokeSession: code,
  RevokeTenantSessions: code,
  ListAuditEvents: code,
  CreateWebhookEndpoint: code,
  ListWebhookEndpoints: code,
  RotateWebhookSecret: code,
  DeleteWebhookEndpoint: code,
  SuspendKey: code,
  ResumeKey: code,
});

const EXPECTED: Record<Credential, Record<Rpc, string>> = {
  "platform admin key": all(OK),
  "same-tenant Cognito admin": {
    CreateKey: OK,
    RotateKey: OK,
    RevokeKey: OK,
    ListKeys: OK,
    CreateSession: DENIED,
    SetTenantPolicy: DENIED,
    GetTenantPolicy: OK,
    CreateAdminKey: DENIED,
    RevokeSession: DENIED,
    RevokeTenantSessions: DENIED,
    ListAuditEvents: OK,
    CreateWebhookEndpoint: OK,
    ListWebhookEndpoints: OK,
    RotateWebhookSecret: OK,
    DeleteWebhookEndpoint: OK,
    SuspendKey: OK,
    ResumeKey: OK,
  },
  "same-tenant Cognito non-admin": all(DENIED),
  "other-tenant Cognito admin": all(DENIED),
  "tenant API key": all(DENIED),
  "session token": all(DENIED),
  "expired Cognito admin JWT": all(UNAUTH),
  none: all(UNAUTH),
};

const asAdmin = () => ({ bearer: t.adminKey });

/** One call of each RPC on tenant acme; RotateKey/RevokeKey act on a fresh acme key. */
async function call(rpc: Rpc, bearer: string | undefined): Promise<string> {
  const auth = { bearer };
  const freshKeyId = async () => (await t.grpc.createKey({ tenantId: "acme", label: "target" }, asAdmin())).key!.id;
  const freshEndpointId = async () =>
    (await t.grpc.createWebhookEndpoint({ tenantId: "acme", url: "https://hooks.example/t" }, asAdmin())).endpoint!.id;
  switch (rpc) {
    case "CreateKey":
      return codeOf(t.grpc.createKey({ tenantId: "acme", label: "matrix" }, auth));
    case "RotateKey":
      return codeOf(t.grpc.rotateKey({ tenantId: "acme", keyId: await freshKeyId() }, auth));
    case "RevokeKey":
      return codeOf(t.grpc.revokeKey({ tenantId: "acme", keyId: await freshKeyId() }, auth));
    case "ListKeys":
      return codeOf(t.grpc.listKeys({ tenantId: "acme" }, auth));
    case "CreateSession":
      return codeOf(t.grpc.createSession({ tenantId: "acme" }, auth));
    case "SetTenantPolicy":
      return codeOf(t.grpc.setTenantPolicy({ tenantId: "acme", hipaaEnabled: false }, auth));
    case "GetTenantPolicy":
      return codeOf(t.grpc.getTenantPolicy({ tenantId: "acme" }, auth));
    case "CreateAdminKey":
      return codeOf(t.grpc.createAdminKey({ label: "matrix" }, auth));
    case "RevokeSession": {
      const { sessionId } = await t.grpc.createSession({ tenantId: "acme" }, asAdmin());
      return codeOf(t.grpc.revokeSession({ tenantId: "acme", sessionId }, auth));
    }
    case "RevokeTenantSessions":
      return codeOf(t.grpc.revokeTenantSessions({ tenantId: "acme" }, auth));
    case "ListAuditEvents":
      return codeOf(t.grpc.listAuditEvents({ tenantId: "acme" }, auth));
    case "CreateWebhookEndpoint":
      return codeOf(t.grpc.createWebhookEndpoint({ tenantId: "acme", url: "https://hooks.example/" }, auth));
    case "ListWebhookEndpoints":
      return codeOf(t.grpc.listWebhookEndpoints({ tenantId: "acme" }, auth));
    case "RotateWebhookSecret":
      return codeOf(t.grpc.rotateWebhookSecret({ tenantId: "acme", endpointId: await freshEndpointId() }, auth));
    case "DeleteWebhookEndpoint":
      return codeOf(t.grpc.deleteWebhookEndpoint({ tenantId: "acme", endpointId: await freshEndpointId() }, auth));
    case "SuspendKey":
      return codeOf(t.grpc.suspendKey({ tenantId: "acme", keyId: await freshKeyId() }, auth));
    case "ResumeKey": {
      // Suspended by acme's own admin: a platform admin's suspension is a platform admin's to lift
      // (platform-suspension-hold.test.ts).
      const keyId = await freshKeyId();
      await t.grpc.suspendKey({ tenantId: "acme", keyId }, { bearer: bearers.get("same-tenant Cognito admin") });
      return codeOf(t.grpc.resumeKey({ tenantId: "acme", keyId }, auth));
    }
  }
}

let keepKeyIds: Set<string>;
let adminKeyIds: string[];

const t = useTestApp(async () => {
  key = createTestKey();
  // Webhook cells create endpoints (no delivery here; enough room per tenant for every cell).
  return {
    env: {
      ...cognitoEnv(writeTempJson(jwksOf(key))),
      WEBHOOK_DELIVERY: "off",
      WEBHOOK_MAX_ENDPOINTS_PER_TENANT: "1000",
    },
  };
});
beforeAll(async () => {
  const jwt = (tenantId: string, sub: string, groups: string[], expiresIn = 3600) =>
    signJwt(key, cognitoClaims({ tenantId, sub, groups, expiresIn }));
  const apiKey = await t.grpc.createKey({ tenantId: "acme", label: "integration" }, asAdmin());
  const session = await t.grpc.createSession({ tenantId: "acme" }, asAdmin());
  bearers.set("platform admin key", t.adminKey);
  bearers.set("same-tenant Cognito admin", jwt("acme", SUB.acmeAdmin, ["tenant-admins"]));
  bearers.set("same-tenant Cognito non-admin", jwt("acme", SUB.acmeUser, ["viewers"]));
  bearers.set("other-tenant Cognito admin", jwt("globex", SUB.globexAdmin, ["tenant-admins"]));
  bearers.set("tenant API key", apiKey.token);
  bearers.set("session token", session.token);
  bearers.set("expired Cognito admin JWT", jwt("acme", SUB.acmeAdmin, ["tenant-admins"], -30));
  bearers.set("none", undefined);
  const adminKeys = (await t.grpc.listKeys({ tenantId: "admin" }, asAdmin())).keys;
  adminKeyIds = adminKeys.map((k) => k.id);
  keepKeyIds = new Set([apiKey.key!.id, ...adminKeyIds]);
});

// Keep every tenant under its 3-active-keys limit: revoke whatever a cell created. A cell that
// revoked acme's sessions (RevokeTenantSessions) also revoked the "session token" credential:
// issue a fresh one, so that row still tests a valid session token.
afterEach(async () => {
  if (!(await t.grpc.introspect({ token: bearers.get("session token")! })).active) {
    bearers.set("session token", (await t.grpc.createSession({ tenantId: "acme" }, asAdmin())).token);
  }
  for (const tenantId of ["acme", "admin"]) {
    for (const k of (await t.grpc.listKeys({ tenantId }, asAdmin())).keys) {
      if (!keepKeyIds.has(k.id) && k.status !== KeyStatus.REVOKED)
        await t.grpc.revokeKey({ tenantId, keyId: k.id }, asAdmin());
    }
  }
});

const cells = (Object.keys(EXPECTED) as Credential[]).flatMap((cred) =>
  (Object.keys(EXPECTED[cred]) as Rpc[]).map((rpc) => [cred, rpc, EXPECTED[cred][rpc]] as const),
);

describe("admin RPC authorization matrix (target tenant acme)", () => {
  it.each(cells)("%s x %s -> %s", async (cred, rpc, code) => {
    expect(await call(rpc, bearers.get(cred))).toBe(code);
  });

  it("has a row for every admin RPC the service defines (a new RPC without a row fails here)", () => {
    const admin = TokenService.methods
      .map((m) => m.name)
      // Introspect and WatchInvalidations take no admin credential: the Introspect caller
      // restrictions gate both (test/e2e/watch-limits.e2e.test.ts, caller-restriction tests).
      .filter((n) => n !== "Introspect" && n !== "WatchInvalidations")
      .sort();
    for (const cred of Object.keys(EXPECTED) as Credential[]) expect(Object.keys(EXPECTED[cred]).sort()).toEqual(admin);
  });
});

describe("a dashboard admin manages its own tenant's keys and nobody else's", () => {
  it("the other-tenant admin is fully in charge of its own tenant", async () => {
    const globex = { bearer: bearers.get("other-tenant Cognito admin") };
    const { key: k } = await t.grpc.createKey({ tenantId: "globex", label: "own" }, globex);
    expect((await t.grpc.listKeys({ tenantId: "globex" }, globex)).keys.map((x) => x.id)).toContain(k!.id);
    const rotated = await t.grpc.rotateKey({ tenantId: "globex", keyId: k!.id }, globex);
    await t.grpc.revokeKey({ tenantId: "globex", keyId: rotated.key!.id }, globex);
    await t.grpc.revokeKey({ tenantId: "globex", keyId: k!.id }, globex);
  });

  it("naming its own tenant with another tenant's key id finds nothing (NOT_FOUND), and changes nothing", async () => {
    const acmeAdmin = { bearer: bearers.get("same-tenant Cognito admin") };
    const { key: foreign } = await t.grpc.createKey({ tenantId: "initech", label: "theirs" }, asAdmin());
    expect(await codeOf(t.grpc.revokeKey({ tenantId: "acme", keyId: foreign!.id }, acmeAdmin))).toBe("NOT_FOUND");
    expect(await codeOf(t.grpc.rotateKey({ tenantId: "acme", keyId: foreign!.id }, acmeAdmin))).toBe("NOT_FOUND");
    expect(await codeOf(t.grpc.revokeKey({ tenantId: "initech", keyId: foreign!.id }, acmeAdmin))).toBe(DENIED);
    const [still] = (await t.grpc.listKeys({ tenantId: "initech" }, asAdmin())).keys;
    expect(still).toMatchObject({ id: foreign!.id, status: KeyStatus.ACTIVE, revokedBy: "" });
  });

  it("the reserved admin tenant is out of reach of every Cognito user", async () => {
    const acmeAdmin = { bearer: bearers.get("same-tenant Cognito admin") };
    const adminKeyId = adminKeyIds[0]!;
    expect(await codeOf(t.grpc.listKeys({ tenantId: "admin" }, acmeAdmin))).toBe(DENIED);
    expect(await codeOf(t.grpc.revokeKey({ tenantId: "admin", keyId: adminKeyId }, acmeAdmin))).toBe(DENIED);
    // platform-wide webhook endpoints (tenant admin) are the platform's alone
    const url = "https://hooks.example/all";
    expect(await codeOf(t.grpc.createWebhookEndpoint({ tenantId: "admin", url }, acmeAdmin))).toBe(DENIED);
    expect(await codeOf(t.grpc.listWebhookEndpoints({ tenantId: "admin" }, acmeAdmin))).toBe(DENIED);
    // a JWT claiming tenant "admin" does not even authenticate
    const claimsAdmin = signJwt(key, cognitoClaims({ tenantId: "admin", groups: ["tenant-admins"] }));
    expect(await codeOf(t.grpc.listKeys({ tenantId: "admin" }, { bearer: claimsAdmin }))).toBe(UNAUTH);
  });

  it("a JWT signed by a stranger's key (or forged) does not authenticate", async () => {
    const forged = signJwt(createTestKey(key.kid), cognitoClaims({ tenantId: "acme", groups: ["tenant-admins"] }));
    expect(await codeOf(t.grpc.listKeys({ tenantId: "acme" }, { bearer: forged }))).toBe(UNAUTH);
    const stranger = signJwt(
      createTestKey("unknown-kid"),
      cognitoClaims({ tenantId: "acme", groups: ["tenant-admins"] }),
    );
    expect(await codeOf(t.grpc.createKey({ tenantId: "acme", label: "x" }, { bearer: stranger }))).toBe(UNAUTH);
  });
});

describe("the audit trail of a tenant admin", () => {
  it("sees its own tenant's events, including other tenants' refused attempts on it; never another tenant's", async () => {
    const acmeAdmin = { bearer: bearers.get("same-tenant Cognito admin") };
    const globexAdmin = { bearer: bearers.get("other-tenant Cognito admin") };
    expect(await codeOf(t.grpc.listKeys({ tenantId: "acme" }, globexAdmin))).toBe(DENIED);
    const [e] = (await t.grpc.listAuditEvents({ tenantId: "acme", pageSize: 1 }, acmeAdmin)).events;
    expect(e).toMatchObject({
      code: "PERMISSION_DENIED",
      tenantId: "acme",
      actor: { id: SUB.globexAdmin, tenantId: "globex" },
    });
    expect(await codeOf(t.grpc.listAuditEvents({ tenantId: "globex" }, acmeAdmin))).toBe(DENIED);
    expect(await codeOf(t.grpc.listAuditEvents({ tenantId: "admin" }, acmeAdmin))).toBe(DENIED);
  });
});

describe("lifecycle records say who acted", () => {
  it("keys created, rotated and revoked by a Cognito admin carry its sub; by an admin key, that key's id", async () => {
    const acmeAdmin = { bearer: bearers.get("same-tenant Cognito admin") };
    const adminKeyId = (await t.grpc.introspect({ token: t.adminKey })).keyId;
    expect(adminKeyId).not.toBe("");

    const created = await t.grpc.createKey({ tenantId: "acme", label: "dashboard" }, acmeAdmin);
    expect(created.key!.createdBy).toBe(SUB.acmeAdmin);
    const rotated = await t.grpc.rotateKey({ tenantId: "acme", keyId: created.key!.id }, acmeAdmin);
    expect(rotated.key!.createdBy).toBe(SUB.acmeAdmin);
    const revoked = await t.grpc.revokeKey({ tenantId: "acme", keyId: rotated.key!.id }, acmeAdmin);
    expect(revoked.key!.revokedBy).toBe(SUB.acmeAdmin);
    const byAdmin = await t.grpc.createKey({ tenantId: "acme", label: "ops" }, asAdmin());
    await t.grpc.revokeKey({ tenantId: "acme", keyId: byAdmin.key!.id }, asAdmin());

    const listed = new Map((await t.grpc.listKeys({ tenantId: "acme" }, acmeAdmin)).keys.map((k) => [k.id, k]));
    expect(listed.get(created.key!.id)).toMatchObject({
      createdBy: SUB.acmeAdmin,
      status: KeyStatus.DEPRECATED,
      rotatedToKeyId: rotated.key!.id,
    });
    expect(listed.get(rotated.key!.id)).toMatchObject({
      createdBy: SUB.acmeAdmin,
      revokedBy: SUB.acmeAdmin,
      status: KeyStatus.REVOKED,
    });
    expect(listed.get(byAdmin.key!.id)).toMatchObject({ createdBy: adminKeyId, revokedBy: adminKeyId });
  });
});
