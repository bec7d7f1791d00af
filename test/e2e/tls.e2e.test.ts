import * as grpc from "@grpc/grpc-js";
import * as http2 from "node:http2";
import * as https from "node:https";
import * as tls from "node:tls";
import { describe, expect, it } from "vitest";
import { createGrpcTokenClient } from "../support/grpc-client.js";
import { createTestPki, hasOpenssl, type TestPki } from "../support/certs.js";
import { useTestApp } from "../support/test-app.js";
import { within } from "../support/poll.js";
import { holdRaw } from "../support/raw-socket.js";
import { h2Exchange } from "../support/h2-request.js";

const openssl = hasOpenssl();
if (!openssl)
  console.warn("TLS tests skipped: the openssl CLI is needed to make test certificates (apt-get install openssl)");

function httpsGet(
  port: number,
  path: string,
  opts: https.RequestOptions,
): Promise<{ status: number; body: string; alpn: string | false | null }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: "127.0.0.1", port, path, servername: "localhost", ...opts }, (res) => {
      const alpn = (res.socket as tls.TLSSocket).alpnProtocol;
      let body = "";
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode!, body, alpn }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe.skipIf(!openssl)("TLS handshakes never finished", () => {
  // Before: a TCP connection that sent nothing, or half a ClientHello, stayed open for good (Node
  // reports the handshake timeout but does not close the socket): still open after 15 s at a 1 s timeout.
  const HANDSHAKE_MS = 400;
  const t = useTestApp(() => {
    const pki = createTestPki();
    return {
      logLevel: "warn",
      env: {
        TLS_CERT_FILE: pki.serverCertFile,
        TLS_KEY_FILE: pki.serverKeyFile,
        HTTP_HEADERS_TIMEOUT_MS: String(HANDSHAKE_MS),
      },
    };
  });

  it("nothing sent, or half a ClientHello: closed after HTTP_HEADERS_TIMEOUT_MS", async () => {
    const closedAfter = (first: Buffer) => {
      const held = holdRaw(t.port, first);
      return within(held.closed, HANDSHAKE_MS + 2600, "closed after connecting").finally(() => held.socket.destroy());
    };
    const halfHello = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]);
    const [nothing, half] = await Promise.all([closedAfter(Buffer.alloc(0)), closedAfter(halfHello)]);
    expect(nothing).toBeGreaterThanOrEqual(HANDSHAKE_MS - 50);
    expect(half).toBeGreaterThanOrEqual(HANDSHAKE_MS - 50);
  });
});

describe.skipIf(!openssl)("TLS", () => {
  let pki: TestPki;
  const t = useTestApp(() => {
    pki = createTestPki();
    return { env: { TLS_CERT_FILE: pki.serverCertFile, TLS_KEY_FILE: pki.serverKeyFile } };
  });

  it("serves gRPC over TLS (ALPN h2) and HTTP/1.1 over TLS (ALPN http/1.1) on one port", async () => {
    const client = createGrpcTokenClient(`localhost:${t.port}`, grpc.credentials.createSsl(pki.ca));
    try {
      const s = await client.createSession({ tenantId: "acme" }, { bearer: t.adminKey });
      expect((await client.introspect({ token: s.token })).active).toBe(true);
    } finally {
      client.close();
    }
    const res = await httpsGet(t.port, "/readyz", { ca: pki.ca, ALPNProtocols: ["http/1.1"] } as https.RequestOptions);
    expect(res).toMatchObject({ status: 200, alpn: "http/1.1" });
  });

  it("refuses plaintext clients", async () => {
    const plain = createGrpcTokenClient(`127.0.0.1:${t.port}`);
    // The TLS server never completes an h2c handshake: the channel cannot connect (UNAVAILABLE),
    // not a deadline that merely ran out and not an answer.
    await expect(plain.introspect({ token: "x" }, { deadlineMs: 5000 })).rejects.toMatchObject({
      code: grpc.status.UNAVAILABLE,
    });
    plain.close();
  });
});

describe.skipIf(!openssl)("mutual TLS", () => {
  let pki: TestPki;
  const t = useTestApp(() => {
    pki = createTestPki();
    return {
      env: { TLS_CERT_FILE: pki.serverCertFile, TLS_KEY_FILE: pki.serverKeyFile, TLS_CLIENT_CA_FILE: pki.caFile },
    };
  });

  it("accepts a client certificate signed by the configured CA", async () => {
    const client = createGrpcTokenClient(
      `localhost:${t.port}`,
      grpc.credentials.createSsl(pki.ca, pki.clientKey, pki.clientCert),
    );
    try {
      expect((await client.introspect({ token: "wf_acme_x" })).active).toBe(false);
    } finally {
      client.close();
    }
    expect((await httpsGet(t.port, "/healthz", { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey })).status).toBe(
      200,
    );
  });

  it("refuses clients without a certificate or with one from another CA", async () => {
    for (const creds of [
      grpc.credentials.createSsl(pki.ca),
      grpc.credentials.createSsl(pki.ca, pki.rogueKey, pki.rogueCert),
    ]) {
      const client = createGrpcTokenClient(`localhost:${t.port}`, creds);
      await expect(client.introspect({ token: "wf_acme_x" }, { deadlineMs: 3000 })).rejects.toMatchObject({
        code: grpc.status.UNAVAILABLE,
      });
      client.close();
    }
    await expect(httpsGet(t.port, "/healthz", { ca: pki.ca })).rejects.toThrow();
  });
});

describe.skipIf(!openssl)("restricting Introspect callers", () => {
  let pki: TestPki;
  const callerToken = "c".repeat(40);
  const t = useTestApp(() => {
    pki = createTestPki();
    return {
      env: {
        TLS_CERT_FILE: pki.serverCertFile,
        TLS_KEY_FILE: pki.serverKeyFile,
        TLS_CLIENT_CA_FILE: pki.caFile,
        TLS_CLIENT_CERT_OPTIONAL: "true",
        INTROSPECT_REQUIRE_CLIENT_CERT: "true",
        INTROSPECT_CALLER_TOKEN: callerToken,
      },
    };
  });

  it("Introspect needs a verified client certificate and the caller credential; admin RPCs need neither", async () => {
    const withCert = createGrpcTokenClient(
      `localhost:${t.port}`,
      grpc.credentials.createSsl(pki.ca, pki.clientKey, pki.clientCert),
    );
    const noCert = createGrpcTokenClient(`localhost:${t.port}`, grpc.credentials.createSsl(pki.ca));
    const rogue = createGrpcTokenClient(
      `localhost:${t.port}`,
      grpc.credentials.createSsl(pki.ca, pki.rogueKey, pki.rogueCert),
    );
    try {
      const { token } = await noCert.createSession({ tenantId: "acme" }, { bearer: t.adminKey });
      const md = { "x-warpflow-caller-token": callerToken };
      expect((await withCert.introspect({ token }, { metadata: md })).active).toBe(true);
      await expect(withCert.introspect({ token })).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
      await expect(
        withCert.introspect({ token }, { metadata: { "x-warpflow-caller-token": "wrong" } }),
      ).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
      await expect(noCert.introspect({ token }, { metadata: md })).rejects.toMatchObject({
        code: grpc.status.UNAUTHENTICATED,
        details: expect.stringContaining("certificate"),
      });
      await expect(rogue.introspect({ token }, { metadata: md })).rejects.toMatchObject({
        code: grpc.status.UNAUTHENTICATED,
      });
    } finally {
      withCert.close();
      noCert.close();
      rogue.close();
    }
  });

  it("applies the same rule to Connect over HTTP/1.1", async () => {
    const post = (opts: https.RequestOptions, headers: Record<string, string>) =>
      new Promise<number>((resolve, reject) => {
        const req = https.request(
          {
            host: "127.0.0.1",
            port: t.port,
            servername: "localhost",
            method: "POST",
            path: "/warpflow.auth.v1.TokenService/Introspect",
            headers: { "content-type": "application/json", ...headers },
            ...opts,
          },
          (res) => {
            res.resume();
            resolve(res.statusCode!);
          },
        );
        req.on("error", reject);
        req.end(JSON.stringify({ token: "wf_acme_x" }));
      });
    expect(
      await post({ ca: pki.ca, cert: pki.clientCert, key: pki.clientKey }, { "x-warpflow-caller-token": callerToken }),
    ).toBe(200);
    expect(await post({ ca: pki.ca }, { "x-warpflow-caller-token": callerToken })).toBe(401);
    expect(await post({ ca: pki.ca, cert: pki.clientCert, key: pki.clientKey }, {})).toBe(401);
  });

  it("applies the same rule to Connect and gRPC-Web over HTTP/2 (ALPN h2)", async () => {
    const h2post = (
      opts: http2.SecureClientSessionOptions,
      contentType: string,
      body: Buffer | string,
      headers: Record<string, string>,
    ) =>
      h2Exchange(
        `https://localhost:${t.port}`,
        { ":path": "/warpflow.auth.v1.TokenService/Introspect", "content-type": contentType, ...headers },
        body,
        { ...opts, ca: pki.ca },
      ).then((a) => ({ status: a.status, body: a.body.toString("latin1") }));
    const cert = { cert: pki.clientCert, key: pki.clientKey };
    const caller = { "x-warpflow-caller-token": callerToken };
    const json = JSON.stringify({ token: "wf_acme_x" });
    expect((await h2post(cert, "application/json", json, caller)).status).toBe(200);
    expect((await h2post({}, "application/json", json, caller)).status).toBe(401);
    expect((await h2post(cert, "application/json", json, {})).status).toBe(401);
    const framed = Buffer.from([0, 0, 0, 0, 11, 0x0a, 9, ...Buffer.from("wf_acme_x")]);
    expect((await h2post(cert, "application/grpc-web+proto", framed, caller)).body).toMatch(/grpc-status: ?0/);
    expect((await h2post({}, "application/grpc-web+proto", framed, caller)).body).toMatch(/grpc-status: ?16/);
  });

  it("applies the same rule to the forward-auth endpoint /authz (an introspection surface)", async () => {
    const admin = createGrpcTokenClient(`localhost:${t.port}`, grpc.credentials.createSsl(pki.ca));
    const { token } = await admin
      .createSession({ tenantId: "acme" }, { bearer: t.adminKey })
      .finally(() => admin.close());
    const authz = (opts: https.RequestOptions, headers: Record<string, string>) =>
      httpsGet(t.port, "/authz", { ...opts, headers: { authorization: `Bearer ${token}`, ...headers } });
    const caller = { "x-warpflow-caller-token": callerToken };
    const ok = await authz({ ca: pki.ca, cert: pki.clientCert, key: pki.clientKey }, caller);
    expect(ok.status).toBe(200);
    const noCert = await authz({ ca: pki.ca }, caller);
    expect([noCert.status, JSON.parse(noCert.body).error.code]).toEqual([401, "unauthenticated"]);
    expect(noCert.body).toContain("certificate");
    expect((await authz({ ca: pki.ca, cert: pki.clientCert, key: pki.clientKey }, {})).status).toBe(401);
    expect(
      (await authz({ ca: pki.ca, cert: pki.clientCert, key: pki.clientKey }, { "x-warpflow-caller-token": "wrong" }))
        .status,
    ).toBe(401);
  });

  it("over HTTP/2 (ALPN h2) too: /authz sees the client certificate of the TLS session", async () => {
    const admin = createGrpcTokenClient(`localhost:${t.port}`, grpc.credentials.createSsl(pki.ca));
    const { token } = await admin
      .createSession({ tenantId: "acme" }, { bearer: t.adminKey })
      .finally(() => admin.close());
    const h2 = (opts: http2.SecureClientSessionOptions) =>
      h2Exchange(
        `https://localhost:${t.port}`,
        {
          ":method": "GET",
          ":path": "/authz",
          authorization: `Bearer ${token}`,
          "x-warpflow-caller-token": callerToken,
        },
        "",
        { ...opts, ca: pki.ca },
      ).then((a) => a.status);
    expect(await h2({ cert: pki.clientCert, key: pki.clientKey })).toBe(200);
    expect(await h2({})).toBe(401);
  });
});
