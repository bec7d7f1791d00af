import * as grpc from "@grpc/grpc-js";
import { readFileSync } from "node:fs";
import * as http from "node:http";
import { describe, expect, it } from "vitest";
import { bearerChallenge, httpRequest } from "../support/authz.js";
import { createTestPki, hasOpenssl, type TestPki } from "../support/certs.js";
import { edgeContractCases, useEdgeLeg } from "../support/edge-leg.js";
import { createGrpcTokenClient } from "../support/grpc-client.js";
import { findNginx, HOW_TO_RUN_NGINX, startNginx } from "../support/nginx.js";

/**
 * Auth at the edge, proven with a real nginx running the shipped deploy/nginx/warpflow-edge.conf:
 * nginx auth_request -> the service's /authz, then proxy_pass to an upstream echo server that
 * records what it receives. Every case is checked at the client and at the upstream: the cases
 * every gateway passes (test/support/edge-leg.ts, as caddy-edge.e2e.test.ts runs them for Caddy),
 * then nginx's own: routes that need a scope, a load run, and the same nginx fronting the service's
 * gRPC API (TLS at nginx, grpc_pass to h2c).
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
    let pki: TestPki;
    const leg = useEdgeLeg(CALLER, async (values) => {
      pki = createTestPki();
      const nginx = await startNginx(nginxBin!, {
        ...values,
        tlsCert: pki.serverCertFile,
        tlsKey: pki.serverKeyFile,
      });
      return Object.assign(nginx, { port: nginx.edgePort });
    });
    edgeContractCases(leg, { deniedBody: false });

    const { viaEdge, admin } = leg;
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
    const challenge = bearerChallenge;

    it("a route needing a scope (issue 22): a scoped key without it gets 403 insufficient_scope with scope=, a client cannot unset the requirement; with it, the upstream gets x-warpflow-scopes (a client's copy overwritten)", async () => {
      const lacking = await leg.t.grpc.createKey(
        { tenantId: "scoped", label: "deals", scopes: ["deals:read"] },
        admin(),
      );
      const holding = await leg.t.grpc.createKey(
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
      const plain = await leg.t.grpc.createKey({ tenantId: "scoped", label: "plain" }, admin());
      const full = await viaEdge({ ...bearer(plain.token), ...forged }, { path: "/tenants/scoped/reports" });
      expect([full.client.status, full.upstream!.headers["x-warpflow-scopes"]]).toEqual([200, undefined]);
    });

    it("500 requests at 32 concurrent: 0 errors, every one at the upstream with its tenant, over kept-alive connections to the service", async () => {
      const tokens = await Promise.all(
        ["load-a", "load-b", "load-c"].map(async (tenantId) => ({
          tenantId,
          token: (await leg.t.grpc.createKey({ tenantId, label: "load" }, admin())).token,
        })),
      );
      const before = connectionsTo(leg.t.port);
      const logBefore = leg.gateway.errorLog().length;
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
                const r = await httpRequest(leg.gateway.edgePort, path, { headers: bearer(token), agent });
                const got = leg.upstream.seen.find((s) => s.url === path);
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
      const used = [...connectionsTo(leg.t.port)].filter((p) => !before.has(p)).length;
      console.log(`nginx edge: 500 requests through nginx used ${used} new connections to the service`);
      // nginx keeps up to 32 idle connections to the service (keepalive 32); without keep-alive
      // this would be one connection per request (500).
      expect(used).toBeLessThanOrEqual(64);
      expect(leg.gateway.errorLog().slice(logBefore)).not.toMatch(/\[(error|crit|alert|emerg)\]/);
    }, 60_000);

    it("fronts the service's gRPC API: Introspect through nginx (TLS at nginx, grpc_pass to h2c)", async () => {
      const { token } = await leg.t.grpc.createKey({ tenantId: "grpc-edge", label: "edge" }, admin());
      const client = createGrpcTokenClient(
        `localhost:${leg.gateway.grpcPort}`,
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
        const keys = await client.listKeys({ tenantId: "grpc-edge" }, { bearer: leg.t.adminKey });
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
