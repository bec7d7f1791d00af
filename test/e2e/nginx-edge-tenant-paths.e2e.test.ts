import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestPki, hasOpenssl, type TestPki } from "../support/certs.js";
import { findNginx, HOW_TO_RUN_NGINX, startEchoUpstream, startNginx, type EchoUpstream, type RunningNginx } from "../support/nginx.js";
import { rawExchange } from "../support/raw-socket.js";
import { startTestApp, type TestApp } from "../support/test-app.js";

/**
 * Tenant-bound routes of the shipped deploy/nginx/warpflow-edge.conf, run by a real nginx: every
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
const skipReason = !nginxBin ? `no nginx binary; ${HOW_TO_RUN_NGINX}` : !openssl ? "no openssl CLI to make the TLS certificate (apt-get install openssl)" : undefined;
if (skipReason) console.log(`nginx tenant-path leg SKIPPED: ${skipReason}.`);

/** Paths bound to tenant globex: only a globex token passes. */
const BOUND_TO_GLOBEX = [
  "/tenants/globex",
  "/tenants/globex/",
  "/tenants/globex/secret",
  "/TENANTS/globex/secret",
  "/Tenants/globex",
  "/tenants/globex/secret?path=/tenants/acme/../x",
  "/tenants/globex/files/a%20b",
  "/api/v1/tenants/globex",
  "/api/v1/tenants/globex/conversations",
  "/API/V1/Tenants/globex/conversations",
  // absolute form: nginx judges and sends the path alone
  "http://edge.test/tenants/globex/secret",
  "http://edge.test/TENANTS/globex",
];

/** Paths refused with 400 whoever asks (the raw form is ambiguous, or names no valid tenant id). */
const REFUSED: (string | Buffer)[] = [
  // case in the tenant id (ids are lower case; an app routing case-insensitively would serve globex)
  "/tenants/GLOBEX/secret",
  "/tenants/Globex",
  "/api/v1/tenants/GLOBEX/conversations",
  // `;` parameters (stripped by servlet containers)
  "/tenants;/globex/secret",
  "/tenants;x=1/globex",
  "/tenants/globex;jsessionid=1/secret",
  "/tenants/acme;/../globex/secret",
  "/tenants/acme/..;/globex/secret",
  "/api/v1;/tenants/globex",
  // encoded slashes and backslashes
  "/tenants%2Fglobex/secret",
  "/tenants%2fglobex/secret",
  "/tenants/acme%2F..%2Fglobex/secret",
  "/tenants/acme%5c..%5cglobex/secret",
  "/tenants\\globex\\secret",
  "/tenants/acme\\..\\globex",
  // dot segments (nginx's own $uri resolves them; the app is sent them as they are)
  "/tenants/acme/../globex/secret",
  "/tenants/./globex/secret",
  "/x/../tenants/globex/secret",
  "/api/v1/x/../tenants/globex",
  "/tenants/acme/%2e%2e/globex/secret",
  // double slashes
  "//tenants/globex/secret",
  "/tenants//globex/secret",
  "/api/v1//tenants/globex",
  // encoded characters in the tenant or the prefix, once or twice
  "/tenants/%67lobex/secret",
  "/tenants/%2567lobex/secret",
  "/%74enants/globex/secret",
  "/%54ENANTS/globex/secret",
  "/tenants/globex%00/secret",
  "/tenants/globex%2",
  "/%u0074enants/globex/secret",
  "/tenants/globex%20/secret",
  "/tenants/%20globex/secret",
  // non-ASCII (U+017F, long s, is "S" to Java's equalsIgnoreCase), encoded and raw; raw fullwidth
  // letters (NFKC: "tenants")
  "/tenant%C5%BF/globex/secret",
  Buffer.from("/tenant\u017f/globex/secret"),
  Buffer.from("/\uff54\uff45\uff4e\uff41\uff4e\uff54\uff53/globex/secret"),
  // not a tenant id, or a tenants segment under an unknown prefix
  "/tenants/globex.json",
  "/tenants/-globex/secret",
  `/tenants/${"g".repeat(64)}/secret`,
  "/api/v2/tenants/globex/secret",
  "/v1/tenants/globex",
  // a fragment (no client sends one; an app may cut the path there) and absolute forms
  "/tenants/globex#x",
  "/tenants/acme#/../globex",
  "http://edge.test//tenants/globex",
  "http://edge.test/tenants;/globex",
];

/** Paths that name no tenant: any valid token passes, with no expected tenant. */
const UNBOUND = ["/api/orders/1", "/tenants", "/tenants/", "/api/v1/tenants", "/files/a%20b;v=1", "/docs/%E2%9C%93"];

interface RawAnswer {
  status: number;
  head: string;
}

describe.skipIf(skipReason !== undefined)("nginx tenant-bound routes (shipped configuration): every spelling is bound or refused", () => {
  let t: TestApp;
  let pki: TestPki;
  let nginx: RunningNginx;
  let upstream: EchoUpstream;
  let acme: string;
  let globex: string;

  beforeAll(async () => {
    pki = createTestPki();
    t = await startTestApp();
    upstream = await startEchoUpstream();
    nginx = await startNginx(nginxBin!, { app: upstream.address, warpflow: t.address, tlsCert: pki.serverCertFile, tlsKey: pki.serverKeyFile, callerToken: "" });
    acme = (await t.grpc.createKey({ tenantId: "acme", label: "paths" }, { bearer: t.adminKey })).token;
    globex = (await t.grpc.createKey({ tenantId: "globex", label: "paths" }, { bearer: t.adminKey })).token;
  }, 60_000);

  afterAll(async () => {
    await nginx?.stop();
    await upstream?.close();
    await t?.close();
  });

  let n = 0;
  /** One raw HTTP/1.1 request (the target sent byte for byte), and what the upstream got for it. */
  async function send(target: string | Buffer, token?: string, extra: Record<string, string> = {}): Promise<{ client: RawAnswer; upstream: (typeof upstream.seen)[number] | undefined }> {
    const id = String(++n);
    const lines = [`Host: edge.test`, `X-Case: ${id}`, `Connection: close`, ...(token ? [`Authorization: Bearer ${token}`] : []), ...Object.entries(extra).map(([k, v]) => `${k}: ${v}`)];
    const request = Buffer.concat([Buffer.from("GET "), Buffer.from(target), Buffer.from(` HTTP/1.1\r\n${lines.join("\r\n")}\r\n\r\n`)]);
    const { data } = await rawExchange(nginx.edgePort, [request], 5000);
    const text = data.toString("latin1");
    const status = /^HTTP\/1\.1 (\d{3}) /.exec(text);
    if (!status) throw new Error(`no HTTP answer for ${String(target)}: ${JSON.stringify(text.slice(0, 200))}`);
    const head = text.split("\r\n\r\n")[0]!.toLowerCase();
    return { client: { status: Number(status[1]), head }, upstream: upstream.seen.find((s) => s.headers["x-case"] === id) };
  }
  const label = (target: string | Buffer) => (typeof target === "string" ? target : `raw ${target.toString("latin1")}`);
  const authorizeCalls = async () => {
    const text = await (await fetch(`${t.baseUrl}/metrics`)).text();
    return [...text.matchAll(/^warpflow_rpc_duration_seconds_count\{method="Authorize",[^}]*\} (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
  };

  it("bound: an acme key on a globex path is 403 and the upstream is untouched; globex's own key reaches the upstream with the path as sent", async () => {
    const rows: unknown[] = [];
    for (const path of BOUND_TO_GLOBEX) {
      const other = await send(path, acme);
      const own = await send(path, globex);
      rows.push([path, other.client.status, other.upstream === undefined, own.client.status, own.upstream?.url, own.upstream?.headers["x-warpflow-tenant-id"]]);
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
    for (const target of REFUSED) {
      for (const [who, token] of [["acme", acme], ["globex", globex], ["none", undefined]] as const) {
        const { client, upstream: got } = await send(target, token);
        rows.push([label(target), who, client.status, got === undefined]);
      }
    }
    expect(rows).toEqual(REFUSED.flatMap((target) => ["acme", "globex", "none"].map((who) => [label(target), who, 400, true])));
    expect(upstream.seen.length).toBe(seenBefore);
    expect(await authorizeCalls()).toBe(callsBefore);
    console.log(`nginx tenant paths: ${BOUND_TO_GLOBEX.length} bound spellings, ${REFUSED.length} refused spellings x 3 callers, ${UNBOUND.length} unbound`);
  });

  it("unbound: paths that name no tenant take any valid token (no expected tenant) and still need one", async () => {
    const rows: unknown[] = [];
    for (const path of UNBOUND) {
      const withKey = await send(path, acme);
      const without = await send(path);
      rows.push([path, withKey.client.status, withKey.upstream?.url, withKey.upstream?.headers["x-warpflow-tenant-id"], without.client.status, without.upstream === undefined]);
    }
    expect(rows).toEqual(UNBOUND.map((path) => [path, 200, path, "acme", 401, true]));
  });

  it("X-Original-URL and X-Rewrite-URL (routed on by some frameworks instead of the request line) never reach the upstream", async () => {
    const { client, upstream: got } = await send("/api/orders/2", acme, { "X-Original-URL": "/tenants/globex/secret", "X-Rewrite-URL": "/tenants/globex/secret" });
    expect(client.status).toBe(200);
    expect([got?.headers["x-original-url"], got?.headers["x-rewrite-url"], got?.headers["x-warpflow-tenant-id"]]).toEqual([undefined, undefined, "acme"]);
  });
});
