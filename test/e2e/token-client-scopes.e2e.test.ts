import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTokenClient, InactiveReason, type TokenClient } from "../../src/client/index.js";
import { waitUntil } from "../support/poll.js";
import { useTestApp } from "../support/test-app.js";

/**
 * Issue 22 in the client library, against the real service: required scopes are checked on the
 * cached answer (no call), client addresses never come from a cached answer of another address,
 * and every answer is the one the server gives for the same request.
 */
const t = useTestApp({ env: { WATCH_HEARTBEAT_MS: "50" } });
const admin = () => ({ bearer: t.adminKey });
let client: TokenClient;
beforeAll(async () => {
  client = createTokenClient({ address: t.address });
  await waitUntil(() => client.state().healthy, 5000, "client healthy");
});
afterAll(() => client.close());

type Checks = { requiredScopes?: string[]; clientAddress?: string };
const CHECKS: Checks[] = [
  {},
  { requiredScopes: ["reports:read"] },
  { requiredScopes: ["reports:read", "deals:write"] },
  { clientAddress: "10.1.2.3" },
  { clientAddress: "192.0.2.7" },
  { clientAddress: "::ffff:10.9.9.9", requiredScopes: ["reports:read"] },
  { clientAddress: "10.1.2.3", requiredScopes: ["nope"] },
  { clientAddress: "2001:db8::1" },
];

async function sameAsServer(token: string, rounds = 3): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    // Interleaved, so an answer cached for one address would show up under the next.
    for (const checks of CHECKS) {
      const server = await t.grpc.introspect({ token, ...checks });
      const got = await client.introspect(token, checks);
      const view = (a: typeof server) => (a.active ? { active: true, scopes: a.scopes } : a.inactiveReason);
      expect([round, checks, view(got)]).toEqual([round, checks, view(server)]);
    }
  }
}

describe("token client with required scopes and client addresses (issue 22)", () => {
  it("scoped key without an allowlist: every mix answered as the server does; scope checks come from the cache", async () => {
    const k = await t.grpc.createKey({ tenantId: "cs", label: "scoped", scopes: ["reports:read"] }, admin());
    await sameAsServer(k.token);
    await waitUntil(
      async () => {
        const { hits, misses } = client.state();
        const a = await client.introspect(k.token, { requiredScopes: ["deals:write"], clientAddress: "192.0.2.1" });
        expect(a.inactiveReason).toBe(InactiveReason.INSUFFICIENT_SCOPE);
        return client.state().hits === hits + 1 && client.state().misses === misses;
      },
      3000,
      "a scope refusal answered from cache, no call",
    );
  });

  it("a key with an allowlist: the answer for one address never answers another (asked each time, uncached)", async () => {
    const k = await t.grpc.createKey(
      { tenantId: "cs", label: "fenced", scopes: ["reports:read"], allowedCidrs: ["10.0.0.0/8"] },
      admin(),
    );
    await sameAsServer(k.token);
    // Never answered from cache, with or without an address: each lookup is one call.
    for (const checks of [{}, { clientAddress: "10.0.0.1" }, { clientAddress: "11.0.0.1", requiredScopes: ["x"] }]) {
      const before = client.state();
      await client.introspect(k.token, checks);
      expect([checks, client.state().misses - before.misses, client.state().hits - before.hits]).toEqual([
        checks,
        1,
        0,
      ]);
    }
    const misses = client.state().misses;
    expect((await client.introspect(k.token, { clientAddress: "10.0.0.1" })).active).toBe(true);
    expect((await client.introspect(k.token, { clientAddress: "11.0.0.1" })).inactiveReason).toBe(
      InactiveReason.ADDRESS_NOT_ALLOWED,
    );
    expect(client.state().misses).toBeGreaterThanOrEqual(misses + 2);
    // A revoke reaches the client's answer whatever the checks.
    await t.grpc.revokeKey({ tenantId: "cs", keyId: k.key!.id }, admin());
    await waitUntil(
      async () =>
        (await client.introspect(k.token, { clientAddress: "10.0.0.1", requiredScopes: ["reports:read"] }))
          .inactiveReason === InactiveReason.REVOKED,
      3000,
      "revoked",
    );
    // Every lookup of a fenced key is the server's answer for that request: REVOKED without an address too.
    for (const checks of CHECKS) {
      const server = await t.grpc.introspect({ token: k.token, ...checks });
      expect([checks, await client.introspect(k.token, checks)]).toEqual([checks, server]);
    }
  });

  it("authenticate: 403 insufficient_scope with the scope attribute; bad inputs are the caller's error, never a 503", async () => {
    const k = await t.grpc.createKey({ tenantId: "cs", label: "auth", scopes: ["a"] }, admin());
    const r = await client.authenticate(`Bearer ${k.token}`, { requiredScopes: ["a", "b"] });
    expect(r).toMatchObject({
      ok: false,
      status: 403,
      error: "insufficient_scope",
      wwwAuthenticate:
        'Bearer realm="warpflow", error="insufficient_scope", error_description="token lacks a required scope", scope="a b"',
    });
    expect((await client.authenticate(`Bearer ${k.token}`, { requiredScopes: ["a"] })).ok).toBe(true);
    for (const bad of [{ clientAddress: "10.0.0.1:80" }, { requiredScopes: ['a"b'] }]) {
      await expect(client.introspect(k.token, bad)).rejects.toMatchObject({ code: "invalid_argument" });
      await expect(client.authenticate(`Bearer ${k.token}`, bad)).rejects.toMatchObject({ code: "invalid_argument" });
    }
  });
});
