import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMemoryTokenStore } from "../../src/adapters/memory/memory-token-store.js";
import { bearerChallenge, warpflowHeaders } from "../support/authz.js";
import { createFaultyStore, type FaultyStore } from "../support/faulty-store.js";
import { createManualClock, HOUR, type ManualClock } from "../support/manual-clock.js";
import {
  documentedCaddyfile,
  findCaddy,
  HOW_TO_RUN_CADDY,
  SHIPPED_CADDYFILE,
  startCaddy,
  createEdgeCaller,
  startEchoUpstream,
  type EchoUpstream,
  type RunningCaddy,
  type SeenRequest,
} from "../support/nginx.js";
import { startTestApp, type TestApp } from "../support/test-app.js";

/**
 * Auth at the edge, proven with a real Caddy (Debian's 2.6.2) running the shipped
 * deploy/caddy/Caddyfile as is (its environment placeholders set): forward_auth -> the service's
 * /authz, then reverse_proxy to an upstream echo server that records what it receives. Every case
 * is checked at the client and at the upstream (as nginx-edge.e2e.test.ts does for nginx).
 */
const caddyBin = findCaddy();
const skipReason = caddyBin ? undefined : `no caddy binary; ${HOW_TO_RUN_CADDY}`;
if (skipReason) console.log(`Caddy edge leg SKIPPED: ${skipReason}.`);

const CALLER = "caller-credential-shared-with-caddy-0123456789";

it("docs/edge-auth.md shows the shipped Caddyfile, byte for byte", () => {
  expect(documentedCaddyfile()).toBe(readFileSync(SHIPPED_CADDYFILE, "utf8"));
});

describe.skipIf(skipReason !== undefined)("Caddy forward_auth in front of an app, with the shipped Caddyfile", () => {
  let t: TestApp;
  let faulty: FaultyStore;
  let clock: ManualClock;
  let caddy: RunningCaddy;
  let upstream: EchoUpstream;
  let seen: SeenRequest[];
  const admin = () => ({ bearer: t.adminKey });

  beforeAll(async () => {
    clock = createManualClock(new Date());
    faulty = createFaultyStore(createMemoryTokenStore());
    t = await startTestApp({
      store: faulty.store,
      clock,
      env: { INTROSPECT_CALLER_TOKEN: CALLER, AUTHZ_REQUIRE_TENANT_BINDING: "true" },
    });
    upstream = await startEchoUpstream();
    seen = upstream.seen;
    caddy = await startCaddy(caddyBin!, { app: upstream.address, warpflow: t.address, callerToken: CALLER });
  }, 60_000);

  afterAll(async () => {
    await caddy?.stop();
    await upstream?.close();
    await t?.close();
  });

  const viaEdge = createEdgeCaller(() => ({ port: caddy.port, seen }));
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  const challenge = bearerChallenge;

  it("a valid key reaches the upstream with the x-warpflow-* headers Caddy copies (and its body)", async () => {
    const { token, key } = await t.grpc.createKey({ tenantId: "acme", label: "edge" }, admin());
    const { client, upstream } = await viaEdge(
      { ...bearer(token), "content-type": "application/json" },
      { method: "POST", body: '{"order":1}' },
    );
    expect([client.status, client.body]).toEqual([200, "upstream ok"]);
    expect(warpflowHeaders(upstream!.headers)).toEqual({
      "x-warpflow-key-id": key!.id,
      "x-warpflow-tenant-id": "acme",
      "x-warpflow-token-type": "api_key",
    });
    expect([upstream!.method, upstream!.body]).toEqual(["POST", '{"order":1}']);
    // A session: its id and expiry are copied too.
    const s = await t.grpc.createSession({ tenantId: "acme" }, admin());
    const viaSession = await viaEdge(bearer(s.token));
    expect(warpflowHeaders(viaSession.upstream!.headers)).toEqual({
      "x-warpflow-expires-at": expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
      "x-warpflow-session-id": s.sessionId,
      "x-warpflow-tenant-id": "acme",
      "x-warpflow-token-type": "session",
    });
  });

  it("x-warpflow-* headers a client sends never reach the upstream as sent: set from the answer, or removed", async () => {
    const { token } = await t.grpc.createKey({ tenantId: "acme", label: "forger" }, admin());
    const forged = {
      "x-warpflow-tenant-id": "other",
      "x-warpflow-token-type": "session",
      "x-warpflow-key-id": "key_forged",
      "x-warpflow-session-id": "forged",
      "x-warpflow-subject": "forged",
      "x-warpflow-groups": "admins",
      "x-warpflow-admin": "true",
      "x-warpflow-deprecated": "true",
      "x-warpflow-expires-at": "2099-01-01T00:00:00Z",
      "x-warpflow-expected-tenant-id": "globex",
      "x-warpflow-caller-token": "forged",
    };
    const { client, upstream } = await viaEdge({ ...bearer(token), ...forged });
    expect(client.status).toBe(200);
    expect(warpflowHeaders(upstream!.headers)).toEqual({
      "x-warpflow-key-id": expect.stringMatching(/^key_/),
      "x-warpflow-tenant-id": "acme",
      "x-warpflow-token-type": "api_key",
    });
    expect(upstream!.headers["x-warpflow-key-id"]).not.toBe("key_forged");
    // A forged header with no valid token gets nowhere at all.
    const denied = await viaEdge({ "x-warpflow-tenant-id": "acme", "x-warpflow-admin": "true" });
    expect([denied.client.status, denied.upstream]).toEqual([401, undefined]);
  });

  it("a scoped key's scopes reach the upstream (absent would mean full access); allowlists see Caddy's peer, never a forged header (attack finding)", async () => {
    const scoped = await t.grpc.createKey(
      { tenantId: "caddyscope", label: "scoped", scopes: ["reports:read"] },
      admin(),
    );
    const viaScoped = await viaEdge({ ...bearer(scoped.token), "x-warpflow-scopes": "admin:all" });
    expect(viaScoped.client.status).toBe(200);
    expect(viaScoped.upstream!.headers["x-warpflow-scopes"]).toBe("reports:read");
    // Caddy and the client are on loopback here: a 127.0.0.0/8 allowlist passes, a 10/8 one does
    // not, whatever x-warpflow-client-address the client sends.
    const here = await t.grpc.createKey(
      { tenantId: "caddyscope", label: "here", allowedCidrs: ["127.0.0.0/8"] },
      admin(),
    );
    expect((await viaEdge(bearer(here.token))).client.status).toBe(200);
    const away = await t.grpc.createKey(
      { tenantId: "caddyscope", label: "away", allowedCidrs: ["10.0.0.0/8"] },
      admin(),
    );
    const forged = await viaEdge({ ...bearer(away.token), "x-warpflow-client-address": "10.1.2.3" });
    expect([forged.client.status, forged.upstream]).toEqual([401, undefined]);
    for (const k of [scoped, here, away]) await t.grpc.revokeKey({ tenantId: "caddyscope", keyId: k.key!.id }, admin());
  });

  it("401 with the service's WWW-Authenticate passed through (missing, revoked, expired), upstream never reached", async () => {
    const { token: revoked, key } = await t.grpc.createKey({ tenantId: "deny", label: "edge" }, admin());
    await t.grpc.revokeKey({ tenantId: "deny", keyId: key!.id }, admin());
    const session = await t.grpc.createSession({ tenantId: "deny" }, admin());
    const cases: [string, Record<string, string>, string][] = [
      ["missing", {}, 'Bearer realm="warpflow"'],
      ["not bearer", { authorization: "Basic dXNlcjpwYXNz" }, 'Bearer realm="warpflow"'],
      ["revoked", bearer(revoked), challenge("invalid_token", "token revoked")],
    ];
    for (const [name, headers, wwwAuthenticate] of cases) {
      const { client, upstream } = await viaEdge(headers);
      expect([name, client.status, client.headers["www-authenticate"], upstream]).toEqual([
        name,
        401,
        wwwAuthenticate,
        undefined,
      ]);
      expect(JSON.parse(client.body)).toMatchObject({ error: { code: expect.any(String) } });
    }
    const start = clock.now();
    clock.advance(HOUR + 1000);
    try {
      const { client, upstream } = await viaEdge(bearer(session.token));
      expect([client.status, client.headers["www-authenticate"], upstream]).toEqual([
        401,
        challenge("invalid_token", "token expired"),
        undefined,
      ]);
    } finally {
      clock.set(start);
    }
  });

  it("403 insufficient_scope passed through for another tenant's route; the owner passes", async () => {
    const { token } = await t.grpc.createKey({ tenantId: "acme", label: "bound" }, admin());
    const own = await viaEdge(bearer(token), { path: "/tenants/acme/reports" });
    expect(own.client.status).toBe(200);
    expect(own.upstream!.headers["x-warpflow-tenant-id"]).toBe("acme");
    const other = await viaEdge(bearer(token), { path: "/tenants/globex/reports" });
    expect([other.client.status, other.client.headers["www-authenticate"], other.upstream]).toEqual([
      403,
      challenge("insufficient_scope", "token not valid for this tenant"),
      undefined,
    ]);
  });

  it("store down: the client gets a 5xx and the upstream is not reached; back up, it passes again", async () => {
    const { token } = await t.grpc.createKey({ tenantId: "outage", label: "edge" }, admin());
    faulty.setMode({ kind: "fail" });
    try {
      const { client, upstream } = await viaEdge(bearer(token));
      expect(client.status).toBeGreaterThanOrEqual(500);
      expect(upstream).toBeUndefined();
    } finally {
      faulty.heal();
    }
    expect((await viaEdge(bearer(token))).client.status).toBe(200);
  });
});
