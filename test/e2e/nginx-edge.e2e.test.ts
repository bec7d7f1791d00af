import * as grpc from "@grpc/grpc-js";
import { readFileSync } from "node:fs";
import * as http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMemoryTokenStore } from "../../src/adapters/memory/memory-token-store.js";
import { bearerChallenge, httpRequest, warpflowHeaders } from "../support/authz.js";
import { createTestPki, hasOpenssl, type TestPki } from "../support/certs.js";
import { createFaultyStore, type FaultyStore } from "../support/faulty-store.js";
import { createGrpcTokenClient } from "../support/grpc-client.js";
import { createManualClock, HOUR, type ManualClock } from "../support/manual-clock.js";
import {
  findNginx,
  HOW_TO_RUN_NGINX,
  createEdgeCaller,
  startEchoUpstream,
  startNginx,
  type EchoUpstream,
  type RunningNginx,
  type SeenRequest,
} from "../support/nginx.js";
import { startTestApp, type TestApp } from "../support/test-app.js";

/**
 * Auth at the edge, proven with a real nginx running the shipped deploy/nginx/warpflow-edge.conf:
 * nginx auth_request -> the service's /authz, then proxy_pass to an upstream echo server that
 * records what it receives. Every case is checked at the client and at the upstream. The same
 * nginx fronts the service's gRPC API (TLS at nginx, grpc_pass to h2c).
 */
const nginxBin = findNginx();
const openssl = hasOpenssl();
const skipReason = !nginxBin
  ? `no nginx binary; ${HOW_TO_RUN_NGINX}`
  : !openssl
    ? "no openssl CLI to make the TLS certificate (apt-get install openssl)"
    : undefined;
if (skipReason) console.log(`nginx edge leg SKIPPED: ${skipReason}.`);

const CALLER = "caller-credential-shared-with-nginx-0123456789";

describe.skipIf(skipReason !== undefined)(
  "nginx auth_request in front of an app, with the shipped configuration",
  () => {
    let t: TestApp;
    let faulty: FaultyStore;
    let clock: ManualClock;
    let pki: TestPki;
    let nginx: RunningNginx;
    let upstream: EchoUpstream;
    let seen: SeenRequest[];
    const admin = () => ({ bearer: t.adminKey });

    beforeAll(async () => {
      pki = createTestPki();
      clock = createManualClock(new Date());
      faulty = createFaultyStore(createMemoryTokenStore());
      t = await startTestApp({
        store: faulty.store,
        clock,
        env: { INTROSPECT_CALLER_TOKEN: CALLER, AUTHZ_REQUIRE_TENANT_BINDING: "true" },
      });
      upstream = await startEchoUpstream();
      seen = upstream.seen;
      nginx = await startNginx(nginxBin!, {
        app: upstream.address,
        warpflow: t.address,
        tlsCert: pki.serverCertFile,
        tlsKey: pki.serverKeyFile,
        callerToken: CALLER,
      });
    }, 60_000);

    afterAll(async () => {
      await nginx?.stop();
      await upstream?.close();
      await t?.close();
    });

    const viaEdge = createEdgeCaller(() => ({ port: nginx.edgePort, seen }));
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
    const challenge = bearerChallenge;

    it("a valid key reaches the upstream with the right x-warpflow-* headers (and its body); the client gets the upstream's answer", async () => {
      const { token, key } = await t.grpc.createKey({ tenantId: "acme", label: "edge" }, admin());
      const { client, upstream } = await viaEdge(
        { ...bearer(token), "content-type": "application/json" },
        { method: "POST", body: '{"order":1}' },
      );
      expect(client.status).toBe(200);
      expect(client.body).toBe("upstream ok");
      expect(upstream).toBeDefined();
      expect(warpflowHeaders(upstream!.headers)).toEqual({
        "x-warpflow-key-id": key!.id,
        "x-warpflow-tenant-id": "acme",
        "x-warpflow-token-type": "api_key",
      });
      expect(upstream!.body).toBe('{"order":1}');
      expect(upstream!.method).toBe("POST");
    });

    it("x-warpflow-* headers a client sends never reach the upstream as sent: set from the answer, or cleared", async () => {
      const { token } = await t.grpc.createKey({ tenantId: "acme", label: "forger" }, admin());
      const forged = {
        "x-warpflow-tenant-id": "other",
        "x-warpflow-token-type": "session",
        "x-warpflow-session-id": "forged",
        "x-warpflow-subject": "forged",
        "x-warpflow-groups": "admins",
        "x-warpflow-admin": "true",
        "x-warpflow-deprecated": "true",
        "x-warpflow-expires-at": "2099-01-01T00:00:00Z",
        "x-warpflow-expected-tenant-id": "acme",
        "x-warpflow-caller-token": "forged",
      };
      const { client, upstream } = await viaEdge({ ...bearer(token), ...forged });
      expect(client.status).toBe(200);
      const got = warpflowHeaders(upstream!.headers);
      expect(got).toEqual({
        "x-warpflow-key-id": expect.any(String),
        "x-warpflow-tenant-id": "acme",
        "x-warpflow-token-type": "api_key",
      });
      // A forged header with no valid token gets nowhere at all.
      const denied = await viaEdge({ "x-warpflow-tenant-id": "acme", "x-warpflow-admin": "true" });
      expect([denied.client.status, denied.upstream]).toEqual([401, undefined]);
    });

    it("missing, malformed, revoked, expired and HIPAA-blocked tokens: 401 with the service's WWW-Authenticate, upstream never reached", async () => {
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

    it("a route bound to a tenant (/tenants/<id>/): the owner passes, another tenant's token gets 403 insufficient_scope, upstream not reached", async () => {
      const { token } = await t.grpc.createKey({ tenantId: "acme", label: "bound" }, admin());
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

    it("a route needing a scope (issue 22): a scoped key without it gets 403 insufficient_scope with scope=, a client cannot unset the requirement; with it, the upstream gets x-warpflow-scopes (a client's copy overwritten)", async () => {
      const lacking = await t.grpc.createKey({ tenantId: "scoped", label: "deals", scopes: ["deals:read"] }, admin());
      const holding = await t.grpc.createKey(
        { tenantId: "scoped", label: "reports", scopes: ["reports:read", "deals:read"] },
        admin(),
      );
      const forged = { "x-warpflow-required-scopes": "deals:read", "x-warpflow-scopes": "admin:all" };
      const denied = await viaEdge({ ...bearer(lacking.token), ...forged }, { path: "/tenants/scoped/reports" });
      expect([denied.client.status, denied.client.headers["www-authenticate"], denied.upstream]).toEqual([
        403,
        `${challenge("insufficient_scope", "token lacks a required scope")}, scope="reports:read"`,
        undefined,
      ]);
      // The same key on a route that needs nothing passes, its scopes upstream (the client's copy replaced).
      const open = await viaEdge({ ...bearer(lacking.token), ...forged }, { path: "/tenants/scoped/orders" });
      expect([open.client.status, open.upstream!.headers["x-warpflow-scopes"]]).toEqual([200, "deals:read"]);
      const ok = await viaEdge({ ...bearer(holding.token), ...forged }, { path: "/tenants/scoped/reports" });
      expect(ok.client.status).toBe(200);
      expect(ok.upstream!.headers["x-warpflow-scopes"]).toBe("reports:read deals:read");
      expect(ok.upstream!.headers["x-warpflow-required-scopes"]).toBeUndefined();
      // An unscoped key has full tenant access: passes, and no x-warpflow-scopes reaches the app.
      const plain = await t.grpc.createKey({ tenantId: "scoped", label: "plain" }, admin());
      const full = await viaEdge({ ...bearer(plain.token), ...forged }, { path: "/tenants/scoped/reports" });
      expect([full.client.status, full.upstream!.headers["x-warpflow-scopes"]]).toEqual([200, undefined]);
    });

    it("a key with an IP allowlist (issue 22): nginx sends $remote_addr, so a forged x-warpflow-client-address gets nowhere", async () => {
      const fenced = await t.grpc.createKey(
        { tenantId: "fenced", label: "office", allowedCidrs: ["10.0.0.0/8"] },
        admin(),
      );
      const local = await t.grpc.createKey(
        { tenantId: "fenced", label: "local", allowedCidrs: ["127.0.0.0/8"] },
        admin(),
      );
      const forged = { "x-warpflow-client-address": "10.1.2.3" };
      const denied = await viaEdge({ ...bearer(fenced.token), ...forged });
      expect([denied.client.status, denied.client.headers["www-authenticate"], denied.upstream]).toEqual([
        401,
        challenge("invalid_token", "token not allowed from this address"),
        undefined,
      ]);
      const ok = await viaEdge({ ...bearer(local.token), "x-warpflow-client-address": "192.0.2.99" });
      expect(ok.client.status).toBe(200);
      expect(ok.upstream!.headers["x-warpflow-client-address"]).toBeUndefined();
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

    it("500 requests at 32 concurrent: 0 errors, every one at the upstream with its tenant, over kept-alive connections to the service", async () => {
      const tokens = await Promise.all(
        ["load-a", "load-b", "load-c"].map(async (tenantId) => ({
          tenantId,
          token: (await t.grpc.createKey({ tenantId, label: "load" }, admin())).token,
        })),
      );
      const before = connectionsTo(t.port);
      const logBefore = nginx.errorLog().length;
      const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
      let next = 0;
      const failures: string[] = [];
      try {
        await Promise.all(
          Array.from({ length: 32 }, async () => {
            while (next < 500) {
              const i = next++;
              const { tenantId, token } = tokens[i % tokens.length]!;
              const path = `/load/${i}`;
              try {
                const r = await httpRequest(nginx.edgePort, path, { headers: bearer(token), agent });
                const got = seen.find((s) => s.url === path);
                if (r.status !== 200 || got?.headers["x-warpflow-tenant-id"] !== tenantId)
                  failures.push(`${path}: ${r.status} ${String(got?.headers["x-warpflow-tenant-id"])}`);
              } catch (err) {
                failures.push(`${path}: ${(err as Error).message}`);
              }
            }
          }),
        );
      } finally {
        agent.destroy();
      }
      expect(failures).toEqual([]);
      const used = [...connectionsTo(t.port)].filter((p) => !before.has(p)).length;
      console.log(`nginx edge: 500 requests through nginx used ${used} new connections to the service`);
      // nginx keeps up to 32 idle connections to the service (keepalive 32); without keep-alive
      // this would be one connection per request (500).
      expect(used).toBeLessThanOrEqual(64);
      expect(nginx.errorLog().slice(logBefore)).not.toMatch(/\[(error|crit|alert|emerg)\]/);
    }, 60_000);

    it("fronts the service's gRPC API: Introspect through nginx (TLS at nginx, grpc_pass to h2c)", async () => {
      const { token } = await t.grpc.createKey({ tenantId: "grpc-edge", label: "edge" }, admin());
      const client = createGrpcTokenClient(
        `localhost:${nginx.grpcPort}`,
        grpc.credentials.createSsl(readFileSync(pki.caFile)),
      );
      try {
        const caller = { metadata: { "x-warpflow-caller-token": CALLER } };
        expect(await client.introspect({ token, expectedTenantId: "grpc-edge" }, caller)).toMatchObject({
          active: true,
          tenantId: "grpc-edge",
        });
        // Status codes pass through nginx too.
        await expect(client.introspect({ token: "" }, caller)).rejects.toMatchObject({
          code: grpc.status.INVALID_ARGUMENT,
        });
        await expect(client.introspect({ token })).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
        const keys = await client.listKeys({ tenantId: "grpc-edge" }, { bearer: t.adminKey });
        expect(keys.keys[0]!.lastUsedAt).toBeDefined();
      } finally {
        client.close();
      }
    });
  },
);

/**
 * The client ports of every TCP connection to `port` on loopback that the kernel still lists
 * (established, or in TIME_WAIT for a minute after closing): a count of connections made.
 */
function connectionsTo(port: number): Set<number> {
  const out = new Set<number>();
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 4) continue;
      const local = parseInt(f[1]!.split(":")[1]!, 16);
      const remote = parseInt(f[2]!.split(":")[1]!, 16);
      if (remote === port && local !== port) out.add(local);
      else if (local === port && remote !== 0) out.add(remote);
    }
  }
  return out;
}
