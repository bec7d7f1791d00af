import { describe, expect, it } from "vitest";
import { createMemoryTokenStore } from "../../src/adapters/memory/memory-token-store.js";
import { httpRequest } from "../support/authz.js";
import { codeOf } from "../support/codes.js";
import { useTestApp } from "../support/test-app.js";

/**
 * Who may ask about a token: with INTROSPECT_CALLER_TOKEN set, a caller without it must not learn
 * whether a token is active, on any door. Each case asks the same question about an active tenant
 * key and about a revoked one (same shape), without the caller credential, and requires the same
 * answer for both.
 */
const CALLER = "caller-token-0123456789abcdef-0123456789";
const SECRET = "gateway-secret-0123456789abcdefghijkl";
const t = useTestApp({
  store: createMemoryTokenStore(),
  logLevel: "warn",
  env: { INTROSPECT_CALLER_TOKEN: CALLER, OAUTH2_INTROSPECT_CLIENTS: `gateway:${SECRET}` },
});
const basic = (userPass: string) => `Basic ${Buffer.from(userPass, "latin1").toString("base64")}`;

let n = 0;
/** An active tenant key and a revoked one (same tenant, same shape). */
async function activeAndRevoked(): Promise<{ active: string; revoked: string }> {
  const tenantId = `doors-${++n}`;
  const admin = { bearer: t.adminKey };
  const { token: active } = await t.grpc.createKey({ tenantId, label: "a" }, admin);
  const { token: revoked, key } = await t.grpc.createKey({ tenantId, label: "r" }, admin);
  await t.grpc.revokeKey({ tenantId, keyId: key!.id }, admin);
  return { active, revoked };
}

describe("without the caller credential, the Introspect doors answer the same for an active and a revoked token", () => {
  it("gRPC Introspect, Connect Introspect, /authz and /oauth2/introspect", async () => {
    const { active, revoked } = await activeAndRevoked();
    const ask = async (token: string) => ({
      grpc: await codeOf(t.grpc.introspect({ token })),
      connect: (
        await fetch(`${t.baseUrl}/warpflow.auth.v1.TokenService/Introspect`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ token }),
        })
      ).status,
      authz: (await httpRequest(t.port, "/authz", { headers: { authorization: `Bearer ${token}` } })).status,
      oauth2: (
        await httpRequest(t.port, "/oauth2/introspect", {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: `token=${token}`,
        })
      ).status,
    });
    const a = await ask(active);
    expect(a).toEqual({ grpc: "UNAUTHENTICATED", connect: 401, authz: 401, oauth2: 401 });
    expect(await ask(revoked)).toEqual(a);
  });
});

describe("the admin doors are no token oracle for a caller without the caller credential", () => {
  // An admin RPC authenticates its bearer with the same introspector, but outside the caller
  // restriction: a tenant key (active) is PERMISSION_DENIED, a revoked one UNAUTHENTICATED. So a
  // caller refused by Introspect learns whether any token is active by calling ListKeys with it.
  it("gRPC ListKeys answers the same for an active and a revoked tenant key", async () => {
    const { active, revoked } = await activeAndRevoked();
    const ask = (bearer: string) => codeOf(t.grpc.listKeys({ tenantId: "someone-else" }, { bearer }));
    expect(await ask(active)).toBe(await ask(revoked));
  });

  it("Connect ListKeys answers the same for an active and a revoked tenant key", async () => {
    const { active, revoked } = await activeAndRevoked();
    const ask = async (bearer: string) =>
      (
        await fetch(`${t.baseUrl}/warpflow.auth.v1.TokenService/ListKeys`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${bearer}` },
          body: JSON.stringify({ tenantId: "someone-else" }),
        })
      ).status;
    expect(await ask(active)).toBe(await ask(revoked));
  });
});

describe("the REST admin door is no token oracle either", () => {
  it("POST /api/v1/sessions (and its 405) answers the same for an active and a revoked tenant key", async () => {
    const { active, revoked } = await activeAndRevoked();
    const ask = async (bearer: string, method: string) =>
      (
        await httpRequest(t.port, "/api/v1/sessions", {
          method,
          headers: { "content-type": "application/json", authorization: `Bearer ${bearer}` },
          body: JSON.stringify({ tenant_id: "someone-else" }),
        })
      ).status;
    expect([await ask(active, "POST"), await ask(active, "GET")]).toEqual([
      await ask(revoked, "POST"),
      await ask(revoked, "GET"),
    ]);
  });
});

describe("/oauth2/introspect client authentication (odd encodings are no way in)", () => {
  const call = (headers: Record<string, string>, body = "token=wf_x", path = "/oauth2/introspect") =>
    httpRequest(t.port, path, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
      body,
    }).then((r) => r.status);

  it("accepts the real client and refuses near misses", async () => {
    expect(await call({ authorization: basic(`gateway:${SECRET}`) })).toBe(200);
    for (const userPass of [
      "gateway:",
      ":",
      `gateway:${SECRET.slice(0, -1)}`,
      `gateway:${SECRET}x`,
      `GATEWAY:${SECRET}`,
      `gateway:${SECRET.toUpperCase()}`,
      `gateway:${SECRET}:`,
      `gateway:x:${SECRET}`,
      `:${SECRET}`,
      `${SECRET}:gateway`,
      `gateway:${SECRET}\u00ff`,
      `gateway%00:${SECRET}`,
    ]) {
      expect([userPass, await call({ authorization: basic(userPass) })]).toEqual([userPass, 401]);
    }
  });

  it("refuses the caller token in the wrong place, twice, prefixed or with Basic alongside", async () => {
    expect(await call({ "x-warpflow-caller-token": CALLER })).toBe(200);
    expect(await call({ "x-warpflow-caller-token": CALLER.toUpperCase() })).toBe(401);
    expect(await call({ "x-warpflow-caller-token": CALLER.slice(0, 32) })).toBe(401);
    expect(await call({ "x-warpflow-caller-token-bin": Buffer.from(CALLER).toString("base64") })).toBe(401);
    expect(await call({ "x-warpflow-caller-token": `${CALLER}, ${CALLER}` })).toBe(401);
    expect(await call({}, `token=wf_x&caller_token=${CALLER}`)).toBe(401);
    expect(await call({}, "token=wf_x", `/oauth2/introspect?access_token=${CALLER}`)).toBe(401);
    // A wrong Authorization is not rescued by a right x-warpflow-caller-token.
    expect(await call({ authorization: basic("gateway:wrong"), "x-warpflow-caller-token": CALLER })).toBe(401);
  });
});
