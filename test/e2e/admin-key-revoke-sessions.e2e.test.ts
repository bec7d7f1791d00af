import { afterEach, describe, expect, it } from "vitest";
import { createMemoryTokenStore } from "../../src/adapters/memory/memory-token-store.js";
import { newSessionId, SESSION_TTL_MS } from "../../src/domain/key-rules.js";
import { generateToken } from "../../src/domain/token-format.js";
import { hashToken } from "../../src/domain/token-hash.js";
import { AuditAction, InactiveReason, InvalidationKind } from "../../src/gen/warpflow/auth/v1/token_service_pb.js";
import { cognitoClaims, cognitoKeyEnv, signJwt } from "../support/jwt.js";
import { createManualClock } from "../support/manual-clock.js";
import { useTestApp } from "../support/test-app.js";
import { codeOf } from "../support/codes.js";
import { watchGrpc, type Watch } from "../support/watch-client.js";

/**
 * Revoking an admin key revokes the sessions it minted, on every tenant (authz review, commit
 * c22f7ce): a leaked admin key that the operator revokes must not leave its holder full-access
 * sessions for an hour. A rotation does not (routine); other creators' sessions are untouched.
 */
const clock = createManualClock(new Date());
const store = createMemoryTokenStore();
const { key: jwk, env: cognito } = cognitoKeyEnv();
const t = useTestApp(() => ({
  clock,
  store,
  logLevel: "warn",
  env: { CACHE_TTL_MS: "60000", WATCH_HEARTBEAT_MS: "100", ...cognito },
}));
const admin = () => ({ bearer: t.adminKey });
const open: Watch[] = [];
afterEach(() => open.splice(0).forEach((w) => w.cancel()));

const newAdminKey = async (label: string) => {
  const k = await t.grpc.createAdminKey({ label }, admin());
  return { id: k.key!.id, bearer: { bearer: k.token } };
};
const active = async (token: string) => (await t.grpc.introspect({ token })).active;

describe("a revoked admin key's sessions", () => {
  it("a session minted by an admin key is inactive once that admin key is revoked", async () => {
    const creator = await t.grpc.createAdminKey({ label: "leaked" }, { bearer: t.adminKey });
    const session = await t.grpc.createSession({ tenantId: "acme" }, { bearer: creator.token });
    expect(await t.grpc.introspect({ token: session.token })).toMatchObject({ active: true, tenantId: "acme" });

    await t.grpc.revokeKey({ tenantId: "admin", keyId: creator.key!.id }, { bearer: t.adminKey });
    expect(await codeOf(t.grpc.listKeys({ tenantId: "acme" }, { bearer: creator.token }))).toBe("UNAUTHENTICATED");

    // The revoked key's holder must not keep a full-access acme session for up to an hour.
    expect(await t.grpc.introspect({ token: session.token })).toMatchObject({ active: false });
  });

  it("its sessions on two tenants both go inactive (REVOKED, cached answers dropped); the key.revoke event counts them", async () => {
    const leaked = await newAdminKey("leaked-two-tenants");
    const acme = await t.grpc.createSession({ tenantId: "acme" }, leaked.bearer);
    const globex = await t.grpc.createSession({ tenantId: "globex" }, leaked.bearer);
    for (const s of [acme, globex]) expect(await active(s.token)).toBe(true); // now cached for a minute

    await t.grpc.revokeKey({ tenantId: "admin", keyId: leaked.id }, admin());
    for (const s of [acme, globex])
      expect(await t.grpc.introspect({ token: s.token })).toMatchObject({
        active: false,
        inactiveReason: InactiveReason.REVOKED,
      });
    const [event] = (
      await t.grpc.listAuditEvents({ tenantId: "admin", action: AuditAction.KEY_REVOKE, pageSize: 1 }, admin())
    ).events;
    expect(event).toMatchObject({ keyId: leaked.id, detail: "revoked 2 sessions it created" });
  });

  it("a session created by a different admin key stays active", async () => {
    const [leaked, other] = [await newAdminKey("leaked-a"), await newAdminKey("other-b")];
    const mine = await t.grpc.createSession({ tenantId: "acme" }, leaked.bearer);
    const theirs = await t.grpc.createSession({ tenantId: "acme" }, other.bearer);
    const bootstrap = await t.grpc.createSession({ tenantId: "acme" }, admin());
    await t.grpc.revokeKey({ tenantId: "admin", keyId: leaked.id }, admin());
    expect(await active(mine.token)).toBe(false);
    expect(await active(theirs.token)).toBe(true);
    expect(await active(bootstrap.token)).toBe(true);
    await t.grpc.revokeKey({ tenantId: "admin", keyId: other.id }, admin());
  });

  it("sessions of other creators (a Cognito user, a session) stay active, and a tenant admin revoking its own key touches no session", async () => {
    // No RPC lets a Cognito user or a session mint a session today: such records are stored directly.
    const stored = async (createdBy: string) => {
      const token = generateToken("session", "acme");
      const now = clock.now();
      await store.insertSession({
        id: newSessionId(),
        tenantId: "acme",
        tokenHash: hashToken(token),
        createdAt: now,
        expiresAt: new Date(now.getTime() + SESSION_TTL_MS),
        createdBy,
      });
      return token;
    };
    const leaked = await newAdminKey("leaked-c");
    const minted = await t.grpc.createSession({ tenantId: "acme" }, leaked.bearer);
    const byCognito = await stored("7f1c2a9e-0d3b-4c55-9a61-2b8e4f0c1d23");
    const bySession = await stored(minted.sessionId);

    const tenantAdmin = {
      bearer: signJwt(
        jwk,
        cognitoClaims({ tenantId: "acme", sub: "7f1c2a9e-0d3b-4c55-9a61-2b8e4f0c1d23", groups: ["tenant-admins"] }),
      ),
    };
    const { key } = await t.grpc.createKey({ tenantId: "acme", label: "tenant-own" }, tenantAdmin);
    await t.grpc.revokeKey({ tenantId: "acme", keyId: key!.id }, tenantAdmin);
    for (const token of [minted.token, byCognito, bySession]) expect(await active(token)).toBe(true);

    await t.grpc.revokeKey({ tenantId: "admin", keyId: leaked.id }, admin());
    expect(await active(minted.token)).toBe(false);
    expect(await active(byCognito)).toBe(true);
    expect(await active(bySession)).toBe(true);
  });

  it("a rotated admin key's sessions stay through its rotation; revoking the deprecated key revokes them", async () => {
    const old = await newAdminKey("rotated");
    const before = await t.grpc.createSession({ tenantId: "acme" }, old.bearer);
    const rotated = await t.grpc.rotateKey({ tenantId: "admin", keyId: old.id }, admin());
    const during = await t.grpc.createSession({ tenantId: "globex" }, old.bearer); // in its grace
    const bySuccessor = await t.grpc.createSession({ tenantId: "acme" }, { bearer: rotated.token });
    for (const s of [before, during, bySuccessor]) expect(await active(s.token)).toBe(true);

    await t.grpc.revokeKey({ tenantId: "admin", keyId: old.id }, admin());
    expect(await active(before.token)).toBe(false);
    expect(await active(during.token)).toBe(false);
    expect(await active(bySuccessor.token)).toBe(true);
    await t.grpc.revokeKey({ tenantId: "admin", keyId: rotated.key!.id }, admin());
  });

  it("a client watching (WatchInvalidations) hears SESSION_REVOKED for each of them", async () => {
    const w = watchGrpc(t.address);
    open.push(w);
    await w.until((m) => m.event.case === "heartbeat", 5000, "first heartbeat");
    const leaked = await newAdminKey("leaked-watched");
    const sessions = [
      await t.grpc.createSession({ tenantId: "acme" }, leaked.bearer),
      await t.grpc.createSession({ tenantId: "globex" }, leaked.bearer),
    ];
    await t.grpc.revokeKey({ tenantId: "admin", keyId: leaked.id }, admin());
    for (const [s, tenantId] of [
      [sessions[0]!, "acme"],
      [sessions[1]!, "globex"],
    ] as const) {
      const m = await w.until(
        (m) =>
          m.event.case === "invalidation" &&
          m.event.value.kind === InvalidationKind.SESSION_REVOKED &&
          m.event.value.sessionId === s.sessionId,
        5000,
        `SESSION_REVOKED ${s.sessionId}`,
      );
      expect(m.event.value).toMatchObject({ tenantId, sessionId: s.sessionId, keyId: "" });
    }
  });
});
