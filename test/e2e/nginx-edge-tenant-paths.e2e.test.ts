import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { warpflowHeaders } from "../support/authz.js";
import { createTestPki, hasOpenssl, type TestPki } from "../support/certs.js";
import {
  findCaddy,
  findNginx,
  HOW_TO_RUN_CADDY,
  HOW_TO_RUN_NGINX,
  startCaddy,
  startEchoUpstream,
  startNginx,
  type EchoUpstream,
} from "../support/nginx.js";
import { rawExchange } from "../support/raw-socket.js";
import { startTestApp, type TestApp } from "../support/test-app.js";
import { BOUND_TO_GLOBEX, FULLWIDTH_RAW, REFUSED, UNBOUND } from "./nginx-edge-tenant-paths.cases.js";
import { counter, metricsText } from "../support/probes.js";

/**
 * Tenant-bound routes of the shipped deploy/nginx/warpflow-edge.conf, run by a real nginx (and of
 * the Caddy block in docs/edge-auth.md, run by a real Caddy where one is installed): every
 * spelling of a path that names a tenant, in any form an app behind it might route (case, no
 * trailing slash, `;` parameters, encoded slashes and letters, dot segments, double slashes,
 * backslashes, the public /api/v1/tenants/<id> prefix), is either bound to that tenant or refused.
 * Each case is checked at the client and at the upstream echo: a refused path never reaches the
 * upstream (nor the token service: it is refused without a token too); on a bound one another
 * tenant's key gets 403 and the upstream is untouched, while the owner's key reaches it with the
 * path exactly as sent.
 */
const nginxBin = findNginx();
const openssl = hasOpenssl();
const nginxSkip = !nginxBin
  ? `no nginx binary; ${HOW_TO_RUN_NGINX}`
  : !openssl
    ? "no openssl CLI to make the TLS certificate (apt-get install openssl)"
    : undefined;
if (nginxSkip) console.log(`nginx tenant-path leg SKIPPED: ${nginxSkip}.`);
const caddyBin = findCaddy();
const caddySkip = !caddyBin ? `no caddy binary; ${HOW_TO_RUN_CADDY}` : undefined;
if (caddySkip) console.log(`Caddy tenant-path leg SKIPPED: ${caddySkip}.`);
const CALLER = "caller-credential-shared-with-the-gateway-0123";

interface RawAnswer {
  status: number;
  head: string;
}

interface Gateway {
  port: number;
  stop(): Promise<void>;
}

describe.skipIf(nginxSkip !== undefined)(
  "nginx tenant-bound routes (shipped configuration): every spelling is bound or refused",
  () => {
    let pki: TestPki | undefined;
    tenantPathCases("nginx", async (app, warpflow) => {
      pki ??= createTestPki();
      const nginx = await startNginx(nginxBin!, {
        app,
        warpflow,
        tlsCert: pki.serverCertFile,
        tlsKey: pki.serverKeyFile,
        callerToken: CALLER,
      });
      return { port: nginx.edgePort, stop: () => nginx.stop() };
    });
  },
);

describe.skipIf(caddySkip !== undefined)(
  "Caddy forward_auth (the block in docs/edge-auth.md): every spelling is bound or refused",
  () => {
    // Go re-escapes a raw non-ASCII byte before Caddy's map sees the path, so raw fullwidth letters
    // look like (and reach the app as) the percent-encoded form, which nginx passes unbound too.
    tenantPathCases(
      "caddy",
      async (app, warpflow) => {
        const caddy = await startCaddy(caddyBin!, { app, warpflow, callerToken: CALLER });
        return { port: caddy.port, stop: () => caddy.stop() };
      },
      { unboundInstead: [FULLWIDTH_RAW] },
    );
  },
);

/** The cases, against one gateway in front of the real service and an upstream echo. */
function tenantPathCases(
  name: string,
  startGateway: (app: string, warpflow: string) => Promise<Gateway>,
  opts: { unboundInstead?: Buffer[] } = {},
): void {
  let t: TestApp;
  let gateway: Gateway;
  let upstream: EchoUpstream;
  let acme: string;
  let acmeKeyId: string;
  let globex: string;
  const unboundInstead = opts.unboundInstead ?? [];
  const refused = REFUSED.filter((target) => !unboundInstead.includes(target as Buffer));

  beforeAll(async () => {
    t = await startTestApp({ env: { INTROSPECT_CALLER_TOKEN: CALLER, AUTHZ_REQUIRE_TENANT_BINDING: "true" } });
    upstream = await startEchoUpstream();
    gateway = await startGateway(upstream.address, t.address);
    const created = await t.grpc.createKey({ tenantId: "acme", label: "paths" }, { bearer: t.adminKey });
    acme = created.token;
    acmeKeyId = created.key!.id;
    globex = (await t.grpc.createKey({ tenantId: "globex", label: "paths" }, { bearer: t.adminKey })).token;
  }, 60_000);

  afterAll(async () => {
    await gateway?.stop();
    await upstream?.close();
    await t?.close();
  });

  let n = 0;
  /** One raw HTTP/1.1 request (the target sent byte for byte), and what the upstream got for it. */
  async function send(
    target: string | Buffer,
    token?: string,
    extra: Record<string, string> = {},
  ): Promise<{ client: RawAnswer; upstream: (typeof upstream.seen)[number] | undefined }> {
    const id = String(++n);
    const lines = [
      `Host: edge.test`,
      `X-Case: ${id}`,
      `Connection: close`,
      ...(token ? [`Authorization: Bearer ${token}`] : []),
      ...Object.entries(extra).map(([k, v]) => `${k}: ${v}`),
    ];
    const request = Buffer.concat([
      Buffer.from("GET "),
      Buffer.from(target),
      Buffer.from(` HTTP/1.1\r\n${lines.join("\r\n")}\r\n\r\n`),
    ]);
    const { data } = await rawExchange(gateway.port, [request], 5000);
    const text = data.toString("latin1");
    const status = /^HTTP\/1\.1 (\d{3}) /.exec(text);
    if (!status) throw new Error(`no HTTP answer for ${String(target)}: ${JSON.stringify(text.slice(0, 200))}`);
    const head = text.split("\r\n\r\n")[0]!.toLowerCase();
    return {
      client: { status: Number(status[1]), head },
      upstream: upstream.seen.find((s) => s.headers["x-case"] === id),
    };
  }
  const label = (target: string | Buffer) => (typeof target === "string" ? target : `raw ${target.toString("latin1")}`);
  const authorizeCalls = async () => {
    return counter(await metricsText(t.baseUrl), "warpflow_rpc_duration_seconds_count", { method: "Authorize" });
  };

  it("bound: an acme key on a globex path is 403 and the upstream is untouched; globex's own key reaches the upstream with the path as sent", async () => {
    const rows: unknown[] = [];
    for (const path of BOUND_TO_GLOBEX) {
      const other = await send(path, acme);
      const own = await send(path, globex);
      rows.push([
        path,
        other.client.status,
        other.upstream === undefined,
        own.client.status,
        own.upstream?.url,
        own.upstream?.headers["x-warpflow-tenant-id"],
      ]);
      if (other.client.status === 403) expect(other.client.head).toContain('error="insufficient_scope"');
    }
    const asSent = (target: string) => target.replace(/^http:\/\/[^/]+/, "");
    expect(rows).toEqual(BOUND_TO_GLOBEX.map((path) => [path, 403, true, 200, asSent(path), "globex"]));
  });

  it("refused: 400 for every ambiguous spelling, with any key or none; neither the upstream nor the token service is reached", async () => {
    expect((await send("/api/orders/0", acme)).client.status).toBe(200); // counted: the metric is read right
    const callsBefore = await authorizeCalls();
    expect(callsBefore).toBeGreaterThan(0);
    const seenBefore = upstream.seen.length;
    const rows: unknown[] = [];
    for (const target of refused) {
      for (const [who, token] of [
        ["acme", acme],
        ["globex", globex],
        ["none", undefined],
      ] as const) {
        const { client, upstream: got } = await send(target, token);
        rows.push([label(target), who, client.status, got === undefined]);
      }
    }
    expect(rows).toEqual(
      refused.flatMap((target) => ["acme", "globex", "none"].map((who) => [label(target), who, 400, true])),
    );
    expect(upstream.seen.length).toBe(seenBefore);
    expect(await authorizeCalls()).toBe(callsBefore);
    console.log(
      `${name} tenant paths: ${BOUND_TO_GLOBEX.length} bound spellings, ${refused.length} refused spellings x 3 callers, ${UNBOUND.length + unboundInstead.length} unbound`,
    );
  });

  it("unbound: paths that name no tenant take any valid token (no expected tenant) and still need one", async () => {
    const rows: unknown[] = [];
    for (const path of UNBOUND) {
      const withKey = await send(path, acme);
      const without = await send(path);
      rows.push([
        path,
        withKey.client.status,
        withKey.upstream?.url,
        withKey.upstream?.headers["x-warpflow-tenant-id"],
        without.client.status,
        without.upstream === undefined,
      ]);
    }
    expect(rows).toEqual(UNBOUND.map((path) => [path, 200, path, "acme", 401, true]));
  });

  it("keep-alive: requests on one connection are judged one by one (unbound, refused, unbound, bound)", async () => {
    const req = (path: string, close = false) =>
      `GET ${path} HTTP/1.1\r\nHost: edge.test\r\nAuthorization: Bearer ${acme}\r\n${close ? "Connection: close\r\n" : ""}\r\n`;
    const seenBefore = upstream.seen.length;
    const { data } = await rawExchange(
      gateway.port,
      [
        req("/api/orders/3") +
          req("/tenants;/globex/secret") +
          req("/api/orders/4") +
          req("/tenants/globex/secret", true),
      ],
      5000,
    );
    const statuses = [...data.toString("latin1").matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
    // (the denial last: both gateways close the connection after it)
    expect(statuses).toEqual([200, 400, 200, 403]);
    expect(upstream.seen.slice(seenBefore).map((r) => r.url)).toEqual(["/api/orders/3", "/api/orders/4"]);
  });

  it.runIf(unboundInstead.length > 0)(
    `${name} only: raw non-ASCII reaches the app percent-encoded and unbound (the app must not NFKC-normalise paths)`,
    async () => {
      for (const target of unboundInstead) {
        const { client, upstream: got } = await send(target, acme);
        const encoded = target.toString("utf8").replace(/[^\x00-\x7f]/gu, (c) => encodeURIComponent(c));
        expect([client.status, got?.url, got?.headers["x-warpflow-tenant-id"]]).toEqual([200, encoded, "acme"]);
      }
    },
  );

  it("X-Original-URL, X-Rewrite-URL (routed on by some frameworks instead of the request line) and client-sent x-warpflow-* never reach the upstream", async () => {
    const forged = {
      "X-Original-URL": "/tenants/globex/secret",
      "X-Rewrite-URL": "/tenants/globex/secret",
      "X-Warpflow-Admin": "true",
      "X-Warpflow-Expected-Tenant-Id": "acme",
      "X-Warpflow-Caller-Token": "forged",
    };
    const { client, upstream: got } = await send("/api/orders/2", acme, forged);
    expect(client.status).toBe(200);
    const h = got!.headers;
    expect([h["x-original-url"], h["x-rewrite-url"]]).toEqual([undefined, undefined]);
    // Exactly the headers the answer carried: nothing forged, nothing empty or left unfilled.
    expect(warpflowHeaders(h)).toEqual({
      "x-warpflow-key-id": acmeKeyId,
      "x-warpflow-tenant-id": "acme",
      "x-warpflow-token-type": "api_key",
    });
  });
}
