import { beforeAll, describe, expect, it } from "vitest";
import {
  AuditAction,
  AuditActorKind,
  InactiveReason,
  type AuditEvent,
} from "../../src/gen/warpflow/auth/v1/token_service_pb.js";
import {
  cognitoClaims,
  cognitoEnv,
  createTestKey,
  jwksOf,
  signJwt,
  writeTempJson,
  type TestKey,
} from "../support/jwt.js";
import { createManualClock, type ManualClock } from "../support/manual-clock.js";
import { useTestApp } from "../support/test-app.js";
import { codeOf } from "../support/codes.js";
import { pollUntil } from "../support/poll.js";

/**
 * A realistic admin day on tenant acme (real server, real gRPC, Cognito JWTs from local keys, the
 * clock injected): keys created, rotated and revoked by the platform on-call and by acme's own
 * dashboard admin, a globex admin poking at acme (refused), a leaked session killed, a policy
 * change refused then made, all of acme's sessions revoked, and 72 hours later the rotated key's
 * grace ending. Then acme's admin reads the audit trail page by page and it must say exactly what
 * happened, newest first.
 */
const SUB = { dana: "11111111-aaaa-4000-8000-acme00admin1", eve: "33333333-cccc-4000-8000-globexadmin1" };
let key: TestKey;
let clock: ManualClock;
let ops: { bearer: string };
let dana: { bearer: string };
let eve: { bearer: string };
let opsId: string;

const t = useTestApp(() => {
  key = createTestKey();
  clock = createManualClock(new Date("2026-02-23T09:00:00Z"));
  return { clock, env: { ...cognitoEnv(writeTempJson(jwksOf(key))), SWEEP_INTERVAL_MS: "100" } };
});
beforeAll(async () => {
  // JWT signatures and exp are checked by aws-jwt-verify against real time; a long-lived token
  // outlives the injected 72 hours too.
  const jwt = (tenantId: string, sub: string) =>
    signJwt(key, cognitoClaims({ tenantId, sub, groups: ["tenant-admins"], expiresIn: 30 * 86_400 }));
  ops = { bearer: t.adminKey };
  dana = { bearer: jwt("acme", SUB.dana) };
  eve = { bearer: jwt("globex", SUB.eve) };
  opsId = (await t.grpc.introspect({ token: t.adminKey })).keyId;
});

interface Expected {
  action: AuditAction;
  code: string;
  actor: string;
  keyId?: string;
  sessionId?: string;
}
const shape = (e: AuditEvent): Expected => ({
  action: e.action,
  code: e.code,
  actor: e.actor!.id,
  ...(e.keyId ? { keyId: e.keyId } : {}),
  ...(e.sessionId ? { sessionId: e.sessionId } : {}),
});

describe("an admin day, then its audit trail", () => {
  it("lists exactly what happened, newest first, page by page", async () => {
    const happened: Expected[] = [];
    const step = () => clock.advance(60_000);
    const A = AuditAction;

    // 09:00 the on-call creates acme's CRM key; 09:01 acme's dashboard admin creates a Zapier key.
    const crm = (await t.grpc.createKey({ tenantId: "acme", label: "CRM Sync" }, ops)).key!;
    happened.push({ action: A.KEY_CREATE, code: "OK", actor: opsId, keyId: crm.id });
    step();
    const zapier = (await t.grpc.createKey({ tenantId: "acme", label: "Zapier" }, dana)).key!;
    happened.push({ action: A.KEY_CREATE, code: "OK", actor: SUB.dana, keyId: zapier.id });
    step();
    // 09:02 dana rotates the CRM key (the old one stays valid 72 h).
    const rotated = await t.grpc.rotateKey({ tenantId: "acme", keyId: crm.id }, dana);
    happened.push({ action: A.KEY_ROTATE, code: "OK", actor: SUB.dana, keyId: crm.id });
    step();
    // 09:03-09:05 globex's admin tries acme's keys: refused every time.
    expect(await codeOf(t.grpc.listKeys({ tenantId: "acme" }, eve))).toBe("PERMISSION_DENIED");
    happened.push({ action: A.KEYS_LIST, code: "PERMISSION_DENIED", actor: SUB.eve });
    step();
    expect(await codeOf(t.grpc.revokeKey({ tenantId: "acme", keyId: zapier.id }, eve))).toBe("PERMISSION_DENIED");
    happened.push({ action: A.KEY_REVOKE, code: "PERMISSION_DENIED", actor: SUB.eve, keyId: zapier.id });
    step();
    expect(await codeOf(t.grpc.createKey({ tenantId: "acme", label: "mine now" }, eve))).toBe("PERMISSION_DENIED");
    happened.push({ action: A.KEY_CREATE, code: "PERMISSION_DENIED", actor: SUB.eve });
    step();
    // 09:06 a support session; 09:07 it leaks into a ticket: killed.
    const leaked = await t.grpc.createSession({ tenantId: "acme" }, ops);
    happened.push({ action: A.SESSION_CREATE, code: "OK", actor: opsId, sessionId: leaked.sessionId });
    expect((await t.grpc.introspect({ token: leaked.token })).active).toBe(true);
    step();
    await t.grpc.revokeSession({ tenantId: "acme", sessionId: leaked.sessionId }, ops);
    happened.push({ action: A.SESSION_REVOKE, code: "OK", actor: opsId, sessionId: leaked.sessionId });
    expect(await t.grpc.introspect({ token: leaked.token })).toMatchObject({
      active: false,
      inactiveReason: InactiveReason.REVOKED,
    });
    step();
    // 09:08 dana may not change the HIPAA policy; 09:09-09:10 the on-call turns it on, then off.
    expect(await codeOf(t.grpc.setTenantPolicy({ tenantId: "acme", hipaaEnabled: true }, dana))).toBe(
      "PERMISSION_DENIED",
    );
    happened.push({ action: A.POLICY_SET, code: "PERMISSION_DENIED", actor: SUB.dana });
    step();
    await t.grpc.setTenantPolicy({ tenantId: "acme", hipaaEnabled: true }, ops);
    happened.push({ action: A.POLICY_SET, code: "OK", actor: opsId });
    step();
    await t.grpc.setTenantPolicy({ tenantId: "acme", hipaaEnabled: false }, ops);
    happened.push({ action: A.POLICY_SET, code: "OK", actor: opsId });
    step();
    // 09:11 dana revokes the Zapier key.
    await t.grpc.revokeKey({ tenantId: "acme", keyId: zapier.id }, dana);
    happened.push({ action: A.KEY_REVOKE, code: "OK", actor: SUB.dana, keyId: zapier.id });
    step();
    // 09:12-09:14 two more sessions, then incident response: every acme session revoked.
    for (let i = 0; i < 2; i++) {
      const s = await t.grpc.createSession({ tenantId: "acme" }, ops);
      happened.push({ action: A.SESSION_CREATE, code: "OK", actor: opsId, sessionId: s.sessionId });
      step();
    }
    expect((await t.grpc.revokeTenantSessions({ tenantId: "acme" }, ops)).revokedCount).toBe(2);
    happened.push({ action: A.SESSIONS_REVOKE_ALL, code: "OK", actor: opsId });

    // 72 hours after the rotation: the sweep stores the old CRM key as revoked, with its event.
    clock.set(new Date(Number(rotated.previousKey!.revokeAt!.seconds) * 1000));
    clock.advance(60_000);
    await pollUntil(
      async () =>
        (await t.app.store.listAuditEvents({ tenantId: "acme", action: "key.grace_expired", limit: 1 })).length > 0,
      5000,
      20,
    );
    happened.push({ action: A.KEY_GRACE_EXPIRED, code: "OK", actor: "grace-sweep", keyId: crm.id });
    step();

    // acme's admin reads the trail, 4 events a page.
    const listed: AuditEvent[] = [];
    const pages: number[] = [];
    let pageToken = "";
    do {
      const page = await t.grpc.listAuditEvents({ tenantId: "acme", pageSize: 4, pageToken }, dana);
      listed.push(...page.events);
      pages.push(page.events.length);
      pageToken = page.nextPageToken;
      step();
    } while (pageToken !== "");
    expect(listed.map(shape)).toEqual([...happened].reverse());
    expect(pages).toEqual([4, 4, 4, 4]); // 16 events: the 4th page is the last (no empty 5th page)
    // Every event says where it came from; the service's own says it was the service.
    const grace = listed[0]!;
    expect(grace.actor).toMatchObject({ kind: AuditActorKind.SERVICE, tenantId: "admin" });
    expect(grace.detail).toContain(rotated.key!.id);
    for (const e of listed.slice(1))
      expect(e).toMatchObject({ protocol: "grpc", peer: expect.stringMatching(/^127\.0\.0\.1:/) });
    const eves = listed.filter((e) => e.actor!.id === SUB.eve);
    expect(eves.map((e) => e.actor!.tenantId)).toEqual(["globex", "globex", "globex"]);
    expect(
      (await t.grpc.listKeys({ tenantId: "acme" }, ops)).keys.find((k) => k.id === crm.id)!.revokedAt,
    ).toBeDefined();
  });

  it("the platform-level trail shows the bootstrap admin key, created by the service", async () => {
    const events = (await t.grpc.listAuditEvents({ tenantId: "admin", action: AuditAction.ADMIN_KEY_CREATE }, ops))
      .events;
    expect(events.at(-1)).toMatchObject({
      code: "OK",
      keyId: opsId,
      actor: { kind: AuditActorKind.SERVICE, id: "bootstrap" },
    });
  });
});
