import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createOAuth2CallerCheck } from "../../src/service/oauth2-callers.js";
import type { OAuth2Caller } from "../../src/transport/protocol/oauth2-introspection.js";

const SECRET = "client-secret+0123456789abcdefghijk";
const CALLER = "caller-token-0123456789abcdefghijklmnop";
const clients = [{ clientId: "kong", secretSha256: createHash("sha256").update(SECRET).digest("hex") }];
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString("base64")}`;
const caller = (c: Partial<OAuth2Caller> = {}): OAuth2Caller => ({
  authorization: undefined,
  authorizationCount: c.authorization === undefined ? 0 : 1,
  callerToken: undefined,
  clientCertVerified: false,
  ...c,
});

describe("who may call /oauth2/introspect", () => {
  it("nothing configured: every caller refused, whatever it sends", () => {
    const check = createOAuth2CallerCheck({ requireClientCert: false, clients: [] });
    for (const c of [caller(), caller({ authorization: basic("kong", SECRET), clientCertVerified: true })]) {
      expect(check.authenticate(c)).toEqual({
        ok: false,
        description: "introspection callers are not configured on this server",
      });
    }
    expect(check.challenges).toEqual(['Basic realm="warpflow-introspection", charset="UTF-8"']);
  });

  it("client certificate only: the certificate is enough, and required", () => {
    const check = createOAuth2CallerCheck({ requireClientCert: true, clients: [] });
    expect(check.authenticate(caller({ clientCertVerified: true }))).toEqual({ ok: true, clientId: "client-cert" });
    expect(check.authenticate(caller({ authorization: `Bearer ${CALLER}` })).ok).toBe(false);
  });

  it("client certificate and Basic clients: both needed", () => {
    const check = createOAuth2CallerCheck({ requireClientCert: true, clients });
    expect(check.authenticate(caller({ authorization: basic("kong", SECRET) })).ok).toBe(false);
    expect(check.authenticate(caller({ clientCertVerified: true })).ok).toBe(false);
    expect(check.authenticate(caller({ authorization: basic("kong", SECRET), clientCertVerified: true }))).toEqual({
      ok: true,
      clientId: "kong",
    });
  });

  it("caller token only: Bearer or x-warpflow-caller-token; Basic is not accepted; one Bearer challenge", () => {
    const check = createOAuth2CallerCheck({ requireClientCert: false, callerToken: CALLER, clients: [] });
    expect(check.authenticate(caller({ authorization: `bearer ${CALLER}` })).ok).toBe(true);
    expect(check.authenticate(caller({ callerToken: CALLER })).ok).toBe(true);
    expect(check.authenticate(caller({ authorization: basic("kong", SECRET) }))).toEqual({
      ok: false,
      description: "HTTP Basic is not accepted here: no clients are configured",
    });
    expect(check.authenticate(caller({ authorization: `Bearer ${CALLER}`, authorizationCount: 2 })).ok).toBe(false);
    expect(check.challenges).toEqual(['Bearer realm="warpflow-introspection"']);
  });

  it("Basic: the secret raw or form-urlencoded, the wrong one or an unknown id refused", () => {
    const check = createOAuth2CallerCheck({ requireClientCert: false, clients });
    expect(check.authenticate(caller({ authorization: basic("kong", SECRET) })).ok).toBe(true);
    expect(check.authenticate(caller({ authorization: basic("kong", encodeURIComponent(SECRET)) })).ok).toBe(true);
    expect(check.authenticate(caller({ authorization: basic("kong", SECRET.replace("+", " ")) })).ok).toBe(false);
    expect(check.authenticate(caller({ authorization: basic("kong", `${SECRET}x`) })).ok).toBe(false);
    expect(check.authenticate(caller({ authorization: basic("kang", SECRET) })).ok).toBe(false);
    expect(check.authenticate(caller({ authorization: basic("kong", "") })).ok).toBe(false);
    expect(check.authenticate(caller({ authorization: "Basic a29uZw==" })).ok).toBe(false); // "kong", no colon
  });
});
