import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTokenClient, InactiveReason, type TokenClient } from "../../src/client/index.js";
import * as grpc from "@grpc/grpc-js";
import { generateToken } from "../../src/domain/token-format.js";
import { createGrpcTokenClient } from "../support/grpc-client.js";
import { createTestPki, hasOpenssl, type TestPki } from "../support/certs.js";
import { waitUntil } from "../support/poll.js";
import { startTestApp, useTestApp } from "../support/test-app.js";

/** The client library against the real service on an ephemeral port (h2c; TLS and mTLS below). */
const t = useTestApp({ env: { WATCH_HEARTBEAT_MS: "50" } });
let client: TokenClient;
beforeAll(async () => {
  client = createTokenClient({ address: t.address });
  await waitUntil(() => client.state().healthy, 5000, "client healthy");
});
afterAll(() => client.close());

describe("token client against the real server (h2c)", () => {
  it("answers what Introspect answers, from cache once cached, and drops a revoked key by the stream", async () => {
    const k = await t.grpc.createKey({ tenantId: "acme", label: "client" }, { bearer: t.adminKey });
    const server = await t.grpc.introspect({ token: k.token });
    const first = await client.introspect(k.token);
    expect(first).toEqual(server);
    // The creation's own invalidation may land while the first lookup is in flight (the epoch rule
    // then keeps that answer out): look up until one is answered from cache.
    await waitUntil(
      async () => {
        const hits = client.state().hits;
        expect(await client.introspect(k.token)).toEqual(server);
        return client.state().hits === hits + 1;
      },
      3000,
      "answered from cache",
    );
    expect((await client.introspect(k.token, { expectedTenantId: "other" })).inactiveReason).toBe(
      InactiveReason.TENANT_MISMATCH,
    );
    await t.grpc.revokeKey({ tenantId: "acme", keyId: k.key!.id }, { bearer: t.adminKey });
    await waitUntil(async () => !(await client.introspect(k.token)).active, 2000, "revoked key inactive");
    expect(await client.introspect(k.token)).toEqual(await t.grpc.introspect({ token: k.token }));
  });

  it("suspend and resume (issue 22): the cached answer is dropped by the stream both ways; an expiring key's answer ends at its expiry", async () => {
    const k = await t.grpc.createKey({ tenantId: "client-sus", label: "client" }, { bearer: t.adminKey });
    const cached = () =>
      waitUntil(
        async () => {
          const hits = client.state().hits;
          await client.introspect(k.token);
          return client.state().hits === hits + 1;
        },
        3000,
        "answered from cache",
      );
    await client.introspect(k.token);
    await cached();
    await t.grpc.suspendKey({ tenantId: "client-sus", keyId: k.key!.id }, { bearer: t.adminKey });
    await waitUntil(async () => !(await client.introspect(k.token)).active, 2000, "suspended key inactive");
    expect((await client.introspect(k.token)).inactiveReason).toBe(InactiveReason.SUSPENDED);
    await cached(); // the SUSPENDED answer is cached too
    await t.grpc.resumeKey({ tenantId: "client-sus", keyId: k.key!.id }, { bearer: t.adminKey });
    await waitUntil(async () => (await client.introspect(k.token)).active, 2000, "resumed key active");
    const short = await t.grpc.createKey(
      { tenantId: "client-sus", label: "short", expiry: { case: "expiresIn", value: { seconds: 1n, nanos: 0 } } },
      { bearer: t.adminKey },
    );
    expect((await client.introspect(short.token)).expiresAt).toEqual(short.key!.expiresAt);
    await waitUntil(async () => !(await client.introspect(short.token)).active, 3000, "expired key inactive");
    expect((await client.introspect(short.token)).inactiveReason).toBe(InactiveReason.EXPIRED);
  });

  it("a switch to HIPAA: the tenant's cached key is answered the server's TENANT_POLICY answer without a call; its session stays; a switch back asks again", async () => {
    const tenantId = "client-hipaa";
    const k = await t.grpc.createKey({ tenantId, label: "client" }, { bearer: t.adminKey });
    const s = await t.grpc.createSession({ tenantId }, { bearer: t.adminKey });
    const cachedNow = (token: string) =>
      waitUntil(
        async () => {
          const hits = client.state().hits;
          expect((await client.introspect(token)).active).toBe(true);
          return client.state().hits === hits + 1;
        },
        3000,
        "answered from cache",
      );
    await cachedNow(k.token);
    await cachedNow(s.token);
    const misses = client.state().misses;
    await t.grpc.setTenantPolicy({ tenantId, hipaaEnabled: true }, { bearer: t.adminKey });
    await waitUntil(async () => !(await client.introspect(k.token)).active, 2000, "HIPAA key inactive");
    expect(client.state().misses).toBe(misses);
    expect(await client.introspect(k.token)).toEqual(await t.grpc.introspect({ token: k.token }));
    expect((await client.introspect(k.token)).inactiveReason).toBe(InactiveReason.TENANT_POLICY);
    expect(await client.introspect(s.token)).toEqual(await t.grpc.introspect({ token: s.token }));
    expect((await client.introspect(s.token)).active).toBe(true);
    expect(client.state().misses).toBe(misses);
    await t.grpc.setTenantPolicy({ tenantId, hipaaEnabled: false }, { bearer: t.adminKey });
    await waitUntil(async () => (await client.introspect(k.token)).active, 2000, "key active again");
    expect(client.state().misses).toBeGreaterThan(misses);
  });

  it("rejects a malformed token without a call, and authenticates one line in a Node HTTP server", async () => {
    const before = client.state();
    expect((await client.introspect("wf_acme_short")).inactiveReason).toBe(InactiveReason.MALFORMED);
    expect(client.state().misses).toBe(before.misses);
    const k = await t.grpc.createKey({ tenantId: "acme", label: "http" }, { bearer: t.adminKey });
    // The docs' one line: authenticate, then answer the refusal as given.
    const server: Server = createServer((req, res) => {
      void client.authenticate(req.headersDistinct.authorization).then((auth) => {
        if (!auth.ok) return res.writeHead(auth.status, { "www-authenticate": auth.wwwAuthenticate ?? "" }).end();
        res.end(auth.claims.tenantId);
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const get = (authorization?: string) =>
      new Promise<{ status: number; body: string; challenge: string | undefined }>((resolve, reject) => {
        const req = request(
          {
            port: (server.address() as AddressInfo).port,
            host: "127.0.0.1",
            headers: authorization ? { authorization } : {},
          },
          (res) => {
            let body = "";
            res.on("data", (c: Buffer) => (body += c.toString()));
            res.on("end", () =>
              resolve({
                status: res.statusCode!,
                body,
                challenge: res.headers["www-authenticate"] as string | undefined,
              }),
            );
          },
        );
        req.on("error", reject);
        req.end();
      });
    try {
      expect(await get(`Bearer ${k.token}`)).toMatchObject({ status: 200, body: "acme" });
      expect(await get()).toMatchObject({ status: 401, challenge: 'Bearer realm="warpflow"' });
      const bad = await get("Bearer wf_acme_nope");
      expect(bad.status).toBe(401);
      expect(bad.challenge).toContain('error="invalid_token"');
    } finally {
      server.close();
    }
  });
});

describe.skipIf(!hasOpenssl())("token client over TLS and mTLS", () => {
  let pki: TestPki;
  beforeAll(() => {
    pki = createTestPki();
  });

  it("TLS: caches and follows the stream", async () => {
    const app = await startTestApp({
      env: { TLS_CERT_FILE: pki.serverCertFile, TLS_KEY_FILE: pki.serverKeyFile, WATCH_HEARTBEAT_MS: "50" },
    });
    const c = createTokenClient({ address: `localhost:${app.port}`, tls: { ca: pki.ca } });
    try {
      await waitUntil(() => c.state().healthy, 5000, "TLS client healthy");
      const admin = createGrpcTokenClient(`localhost:${app.port}`, grpc.credentials.createSsl(pki.ca));
      const k = await admin.createKey({ tenantId: "acme", label: "tls" }, { bearer: app.adminKey });
      await waitUntil(
        async () => {
          const hits = c.state().hits;
          expect((await c.introspect(k.token)).active).toBe(true);
          return c.state().hits === hits + 1;
        },
        3000,
        "answered from cache over TLS",
      );
      await admin.revokeKey({ tenantId: "acme", keyId: k.key!.id }, { bearer: app.adminKey });
      await waitUntil(async () => !(await c.introspect(k.token)).active, 2000, "revoked key inactive over TLS");
      admin.close();
    } finally {
      c.close();
      await app.close();
    }
  });

  it("mTLS with INTROSPECT_REQUIRE_CLIENT_CERT: the client's certificate opens the stream and Introspect", async () => {
    const app = await startTestApp({
      env: {
        TLS_CERT_FILE: pki.serverCertFile,
        TLS_KEY_FILE: pki.serverKeyFile,
        TLS_CLIENT_CA_FILE: pki.caFile,
        TLS_CLIENT_CERT_OPTIONAL: "true",
        INTROSPECT_REQUIRE_CLIENT_CERT: "true",
        WATCH_HEARTBEAT_MS: "50",
      },
    });
    const withCert = createTokenClient({
      address: `localhost:${app.port}`,
      tls: { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey },
    });
    const noCert = createTokenClient({ address: `localhost:${app.port}`, tls: { ca: pki.ca } });
    try {
      await waitUntil(() => withCert.state().healthy, 5000, "mTLS client healthy");
      const token = generateToken("api_key", "acme");
      await expect(withCert.introspect(token)).resolves.toMatchObject({ inactiveReason: InactiveReason.NOT_FOUND });
      expect(noCert.state().healthy).toBe(false); // its stream is refused as Introspect is
      await expect(noCert.introspect(token)).rejects.toMatchObject({ code: "unauthenticated" });
    } finally {
      withCert.close();
      noCert.close();
      await app.close();
    }
  });
});
