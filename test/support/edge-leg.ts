// The behaviour every gateway in front of /authz must show (nginx auth_request, Caddy forward_auth),
// checked at the client and at the upstream echo server behind the gateway: one set of cases, run by
// each gateway's e2e file against its shipped configuration (test/e2e/nginx-edge.e2e.test.ts,
// caddy-edge.e2e.test.ts), which adds the cases only its gateway has.
import { afterAll, beforeAll, expect, it } from "vitest";
import { createMemoryTokenStore } from "../../src/adapters/memory/memory-token-store.js";
import { bearerChallenge, warpflowHeaders } from "./authz.js";
import { createFaultyStore, type FaultyStore } from "./faulty-store.js";
import { createManualClock, HOUR, type ManualClock } from "./manual-clock.js";
import { createEdgeCaller, startEchoUpstream, type EchoUpstream } from "./nginx.js";
import { startTestApp, type TestApp } from "./test-app.js";

export interface RunningGateway {
  /** The port clients call (the gateway's HTTP site). */
  port: number;
  stop(): Promise<void>;
}

export interface EdgeLeg {
  readonly t: TestApp;
  readonly faulty: FaultyStore;
  readonly clock: ManualClock;
  readonly upstream: EchoUpstream;
  /** A request through the gateway to a path of its own, with what the upstream got for it. */
  viaEdge: ReturnType<typeof createEdgeCaller>;
  admin(): { bearer: string };
}

/**
 * Inside a describe: the service (faulty memory store, manual clock, the caller credential, tenant
 * binding required), the upstream echo, and the gateway `start` runs in front of both.
 */
export function useEdgeLeg<G extends RunningGateway>(
  callerToken: string,
  start: (values: { app: string; warpflow: string; callerToken: string }) => Promise<G>,
): EdgeLeg & { readonly gateway: G } {
  const state = {} as { t: TestApp; faulty: FaultyStore; clock: ManualClock; upstream: EchoUpstream; gateway: G };
  beforeAll(async () => {
    state.clock = createManualClock(new Date());
    state.faulty = createFaultyStore(createMemoryTokenStore());
    state.t = await startTestApp({
      store: state.faulty.store,
      clock: state.clock,
      env: { INTROSPECT_CALLER_TOKEN: callerToken, AUTHZ_REQUIRE_TENANT_BINDING: "true" },
    });
    state.upstream = await startEchoUpstream();
    state.gateway = await start({ app: state.upstream.address, warpflow: state.t.address, callerToken });
  }, 60_000);
  afterAll(async () => {
    await state.gateway?.stop();
    await state.upstream?.close();
    await state.t?.close();
  });
  return {
    get t() {
      return state.t;
    },
    get faulty() {
      return state.faulty;
    },
    get clock() {
      return state.clock;
    },
    get upstream() {
      return state.upstream;
    },
    get gateway() {
      return state.gateway;
    },
    viaEdge: createEdgeCaller(() => ({ port: state.gateway.port, seen: state.upstream.seen })),
    admin: () => ({ bearer: state.t.adminKey }),
  };
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const challenge = bearerChallenge;

/**
 * The cases every gateway passes, as `it`s of the calling describe. `deniedBody`: the gateway
 * passes the service's JSON error body on with a 401/403 (Caddy's forward_auth copies the answer;
 * nginx's auth_request keeps only the status and headers and answers its own page).
 */
export function edgeContractCases(leg: EdgeLeg, opts: { deniedBody: boolean }): void {
  const { viaEdge, admin } = leg;

  it("a valid key reaches the upstream with the x-warpflow-* headers (and its body); a session's id and expiry too", async () => {
    const { token, key } = await leg.t.grpc.createKey({ tenantId: "acme", label: "edge" }, admin());
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
    const s = await leg.t.grpc.createSession({ tenantId: "acme" }, admin());
    const viaSession = await viaEdge(bearer(s.token));
    expect(warpflowHeaders(viaSession.upstream!.headers)).toEqual({
      "x-warpflow-expires-at": expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
      "x-warpflow-session-id": s.sessionId,
      "x-warpflow-tenant-id": "acme",
      "x-warpflow-token-type": "session",
    });
  });

  it("x-warpflow-* headers a client sends never reach the upstream as sent: set from the answer, or removed", async () => {
    const { token } = await leg.t.grpc.createKey({ tenantId: "acme", label: "forger" }, admin());
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

  it("missing, malformed, revoked, expired and HIPAA-blocked tokens: 401 with the service's WWW-Authenticate (and JSON body, where the gateway passes it on), upstream never reached", async () => {
    const { t } = leg;
    const { token: revoked, key } = await t.grpc.createKey({ tenantId: "deny", label: "edge" }, admin());
    await t.grpc.revokeKey({ tenantId: "deny", keyId: key!.id }, admin());
    const { token: live } = await t.grpc.createKey({ tenantId: "deny", label: "live" }, admin());
    const { token: hipaa } = await t.grpc.createKey({ tenantId: "clinic", label: "edge" }, admin());
    await t.grpc.setTenantPolicy({ tenantId: "clinic", hipaaEnabled: true }, admin());
    const session = await t.grpc.createSession({ tenantId: "deny" }, admin());
    expect((await viaEdge(bearer(session.token))).client.status).toBe(200);
    const cases: [string, Record<string, string>, string][] = [
      ["missing", {}, 'Bearer realm="warpflow"'],
      ["not bearer", { authorization: "Basic dXNlcjpwYXNz" }, 'Bearer realm="warpflow"'],
      [
        "malformed",
        bearer(live.slice(0, -1) + (live.endsWith("a") ? "b" : "a")),
        challenge("invalid_token", "token malformed"),
      ],
      ["revoked", bearer(revoked), challenge("invalid_token", "token revoked")],
      ["hipaa", bearer(hipaa), challenge("invalid_token", "token type disabled by tenant policy")],
    ];
    for (const [name, headers, wwwAuthenticate] of cases) {
      const { client, upstream } = await viaEdge(headers);
      expect([name, client.status, client.headers["www-authenticate"], upstream]).toEqual([
        name,
        401,
        wwwAuthenticate,
        undefined,
      ]);
      if (opts.deniedBody) expect(JSON.parse(client.body)).toMatchObject({ error: { code: expect.any(String) } });
    }
    const start = leg.clock.now();
    leg.clock.advance(HOUR + 1000);
    try {
      const { client, upstream } = await viaEdge(bearer(session.token));
      expect([client.status, client.headers["www-authenticate"], upstream]).toEqual([
        401,
        challenge("invalid_token", "token expired"),
        undefined,
      ]);
    } finally {
      leg.clock.set(start);
    }
  });

  it("a route bound to a tenant (/tenants/<id>/): the owner passes, another tenant's token gets 403 insufficient_scope, upstream not reached", async () => {
    const { token } = await leg.t.grpc.createKey({ tenantId: "acme", label: "bound" }, admin());
    const own = await viaEdge(bearer(token), { path: "/tenants/acme/reports" });
    expect(own.client.status).toBe(200);
    expect(own.upstream!.headers["x-warpflow-tenant-id"]).toBe("acme");
    expect(own.upstream!.headers["x-warpflow-expected-tenant-id"]).toBeUndefined();
    const other = await viaEdge(bearer(token), { path: "/tenants/globex/reports" });
    expect([other.client.status, other.client.headers["www-authenticate"], other.upstream]).toEqual([
      403,
      challenge("insufficient_scope", "token not valid for this tenant"),
      undefined,
    ]);
  });

  it("a scoped key's scopes reach the upstream (a client's copy replaced; absent would mean full access)", async () => {
    const scoped = await leg.t.grpc.createKey(
      { tenantId: "edgescope", label: "scoped", scopes: ["reports:read"] },
      admin(),
    );
    const viaScoped = await viaEdge({ ...bearer(scoped.token), "x-warpflow-scopes": "admin:all" });
    expect(viaScoped.client.status).toBe(200);
    expect(viaScoped.upstream!.headers["x-warpflow-scopes"]).toBe("reports:read");
    const plain = await leg.t.grpc.createKey({ tenantId: "edgescope", label: "plain" }, admin());
    const full = await viaEdge({ ...bearer(plain.token), "x-warpflow-scopes": "admin:all" });
    expect([full.client.status, full.upstream!.headers["x-warpflow-scopes"]]).toEqual([200, undefined]);
  });

  it("a key with an IP allowlist sees the gateway's peer (loopback here), never a forged x-warpflow-client-address", async () => {
    const fenced = await leg.t.grpc.createKey(
      { tenantId: "fenced", label: "office", allowedCidrs: ["10.0.0.0/8"] },
      admin(),
    );
    const local = await leg.t.grpc.createKey(
      { tenantId: "fenced", label: "local", allowedCidrs: ["127.0.0.0/8"] },
      admin(),
    );
    const denied = await viaEdge({ ...bearer(fenced.token), "x-warpflow-client-address": "10.1.2.3" });
    expect([denied.client.status, denied.client.headers["www-authenticate"], denied.upstream]).toEqual([
      401,
      challenge("invalid_token", "token unknown"), // as a token never issued: the edge does not confirm it is live
      undefined,
    ]);
    const ok = await viaEdge({ ...bearer(local.token), "x-warpflow-client-address": "192.0.2.99" });
    expect(ok.client.status).toBe(200);
    expect(ok.upstream!.headers["x-warpflow-client-address"]).toBeUndefined();
  });

  it("store down: the client gets a 5xx and the upstream is not reached; back up, it passes again", async () => {
    const { token } = await leg.t.grpc.createKey({ tenantId: "outage", label: "edge" }, admin());
    leg.faulty.setMode({ kind: "fail" });
    try {
      const { client, upstream } = await viaEdge(bearer(token));
      expect(client.status).toBeGreaterThanOrEqual(500);
      expect(upstream).toBeUndefined();
    } finally {
      leg.faulty.heal();
    }
    expect((await viaEdge(bearer(token))).client.status).toBe(200);
  });
}
