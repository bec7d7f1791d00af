import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Registry } from "prom-client";
import { describe, expect, it, vi } from "vitest";
import { TokenClientError } from "../../src/client/errors.js";
import { generateToken } from "../../src/domain/token-format.js";
import {
  InactiveReason,
  InvalidationKind,
  IntrospectResponseSchema,
  TokenType,
  type IntrospectResponse,
} from "../../src/gen/warpflow/auth/v1/token_service_pb.js";
import { activeKey, scriptedClient } from "../support/scripted-token-channel.js";

/** The token whose scripted answer names this key or session id. */
const tokensOf = (s: { answers: Map<string, IntrospectResponse | Error> }, id: string) =>
  [...s.answers].find(([, a]) => !(a instanceof Error) && (a.keyId === id || a.sessionId === id))![0];

const key = activeKey;

const setup = scriptedClient;

describe("token client: cache rules (injected clock, scripted stream)", () => {
  it("answers a malformed token locally, without a call", async () => {
    const { s, client } = setup();
    const r = await client.introspect("wf_acme_notatoken");
    expect(r.active).toBe(false);
    expect(r.inactiveReason).toBe(InactiveReason.MALFORMED);
    expect(s.introspect).not.toHaveBeenCalled();
    expect(client.state().localRejections).toBe(1);
    await expect(client.introspect("")).rejects.toMatchObject({ code: "invalid_argument" });
    client.close();
  });

  it("answers from cache only while the last heartbeat is within the staleness bound, exactly", async () => {
    const { clock, s, client } = setup({ stalenessMs: 1000 });
    const t = generateToken("api_key", "acme");
    s.answers.set(t, key("acme", "key_1"));
    expect((await client.introspect(t)).active).toBe(true);
    expect((await client.introspect(t)).active).toBe(true);
    expect(s.introspect).toHaveBeenCalledTimes(1);
    clock.advance(1000); // age == bound: still healthy
    await client.introspect(t);
    expect(s.introspect).toHaveBeenCalledTimes(1);
    clock.advance(1); // age > bound: ask the server
    await client.introspect(t);
    expect(s.introspect).toHaveBeenCalledTimes(2);
    s.heartbeat();
    await client.introspect(t);
    expect(s.introspect).toHaveBeenCalledTimes(2);
    expect(client.state()).toMatchObject({ hits: 3, misses: 2, connected: true, healthy: true, cacheSize: 1 });
    client.close();
  });

  it("does not answer from cache while heartbeats say incomplete, nor after the stream ends", async () => {
    const { s, client } = setup();
    const t = generateToken("api_key", "acme");
    s.answers.set(t, key("acme", "key_1"));
    await client.introspect(t);
    s.heartbeat(false);
    await client.introspect(t);
    expect(s.introspect).toHaveBeenCalledTimes(2);
    s.heartbeat(true);
    await client.introspect(t);
    expect(s.introspect).toHaveBeenCalledTimes(2);
    s.cut();
    expect(client.state().connected).toBe(false);
    await client.introspect(t);
    expect(s.introspect).toHaveBeenCalledTimes(3);
    client.close();
  });

  it("never answers active from cache at or after expires_at", async () => {
    const { clock, s, client } = setup();
    const t = generateToken("session", "acme");
    const exp = clock.now().getTime() + 500;
    s.answers.set(
      t,
      key("acme", "", { tokenType: TokenType.SESSION, sessionId: "ses_1", expiresAt: timestampFromMs(exp) }),
    );
    await client.introspect(t);
    clock.advance(499);
    s.heartbeat();
    await client.introspect(t);
    expect(s.introspect).toHaveBeenCalledTimes(1);
    clock.advance(1);
    s.heartbeat();
    s.answers.set(t, create(IntrospectResponseSchema, { inactiveReason: InactiveReason.EXPIRED }));
    expect((await client.introspect(t)).active).toBe(false);
    expect(s.introspect).toHaveBeenCalledTimes(2);
    client.close();
  });

  it("does not cache an answer read before an invalidation it received meanwhile (epoch rule)", async () => {
    const { s, client } = setup();
    const t = generateToken("api_key", "acme");
    s.answers.set(t, key("acme", "key_1"));
    const pending = client.introspect(t);
    s.invalidate(InvalidationKind.KEY_REVOKED, { tenantId: "acme", keyId: "key_1" });
    expect((await pending).active).toBe(true); // what the server said, but not cached
    s.answers.set(t, create(IntrospectResponseSchema, { inactiveReason: InactiveReason.REVOKED }));
    expect((await client.introspect(t)).active).toBe(false);
    expect(s.introspect).toHaveBeenCalledTimes(2);
    client.close();
  });

  it("collapses concurrent misses on one token into one call", async () => {
    const { s, client } = setup();
    const t = generateToken("api_key", "acme");
    s.answers.set(t, key("acme", "key_1"));
    const all = await Promise.all(Array.from({ length: 20 }, () => client.introspect(t)));
    expect(all.every((a) => a.active)).toBe(true);
    expect(s.introspect).toHaveBeenCalledTimes(1);
    client.close();
  });

  it("applies expected_tenant_id to cached answers as the server does", async () => {
    const { s, client } = setup();
    const t = generateToken("api_key", "acme");
    s.answers.set(t, key("acme", "key_1"));
    await client.introspect(t);
    const r = await client.introspect(t, { expectedTenantId: "other" });
    expect(r).toMatchObject({ active: false, inactiveReason: InactiveReason.TENANT_MISMATCH });
    expect((await client.introspect(t, { expectedTenantId: "acme" })).active).toBe(true);
    expect(s.introspect).toHaveBeenCalledTimes(1);
    client.close();
  });

  it("fails closed: UNAVAILABLE error, never active, when the server cannot answer and the cache may not", async () => {
    const { clock, s, client } = setup();
    const t = generateToken("api_key", "acme");
    s.answers.set(t, key("acme", "key_1"));
    await client.introspect(t);
    s.cut();
    clock.advance(10);
    s.answers.set(t, new TokenClientError("unavailable", "down"));
    await expect(client.introspect(t)).rejects.toMatchObject({ name: "TokenClientError", code: "unavailable" });
    expect(client.state().failedClosed).toBe(1);
    client.close();
  });

  it("rides out an outage only when opted in, within the bound, never past expires_at, logged once", async () => {
    const warn = vi.fn();
    const { clock, s, client } = setup({ rideThroughMs: 5000, logger: { warn } });
    const k = generateToken("api_key", "acme");
    const sess = generateToken("session", "acme");
    const exp = clock.now().getTime() + 3000;
    s.answers.set(k, key("acme", "key_1"));
    s.answers.set(sess, key("acme", "", { sessionId: "ses_1", expiresAt: timestampFromMs(exp) }));
    await client.introspect(k);
    await client.introspect(sess);
    s.cut();
    s.answers.set(k, new TokenClientError("unavailable", "down"));
    s.answers.set(sess, new TokenClientError("unavailable", "down"));
    clock.advance(2999);
    expect((await client.introspect(k)).active).toBe(true);
    expect((await client.introspect(sess)).active).toBe(true);
    clock.advance(1); // the session's expires_at
    await expect(client.introspect(sess)).rejects.toMatchObject({ code: "unavailable" });
    clock.advance(2000); // 5000 ms after the last heartbeat: still within
    expect((await client.introspect(k)).active).toBe(true);
    clock.advance(1);
    await expect(client.introspect(k)).rejects.toMatchObject({ code: "unavailable" });
    expect(client.state().rideThroughAnswers).toBe(3);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(JSON.stringify(warn.mock.calls)).not.toContain(k);
    client.close();
  });

  it("ride-through is off by default", async () => {
    const { clock, s, client } = setup();
    const k = generateToken("api_key", "acme");
    s.answers.set(k, key("acme", "key_1"));
    await client.introspect(k);
    s.cut();
    clock.advance(1);
    s.answers.set(k, new TokenClientError("unavailable", "down"));
    await expect(client.introspect(k)).rejects.toMatchObject({ code: "unavailable" });
    client.close();
  });
});

describe("token client: invalidations drop what their ids name", () => {
  async function cached() {
    const env = setup();
    const tokens = {
      k1: generateToken("api_key", "acme"),
      k2: generateToken("api_key", "acme"),
      s1: generateToken("session", "acme"),
      other: generateToken("api_key", "beta"),
      unknownAcme: generateToken("api_key", "acme"),
      unknownBeta: generateToken("api_key", "beta"),
    };
    env.s.answers.set(tokens.k1, key("acme", "key_1"));
    env.s.answers.set(tokens.k2, key("acme", "key_2"));
    env.s.answers.set(tokens.s1, key("acme", "", { tokenType: TokenType.SESSION, sessionId: "ses_1" }));
    env.s.answers.set(tokens.other, key("beta", "key_3"));
    for (const t of Object.values(tokens)) await env.client.introspect(t);
    env.s.introspect.mockClear();
    /** Which of the tokens are asked of the server again. */
    const refetched = async () => {
      env.s.introspect.mockClear();
      for (const t of Object.values(tokens)) await env.client.introspect(t);
      const asked = new Set(env.s.introspect.mock.calls.map((c) => c[0]));
      return Object.entries(tokens)
        .filter(([, t]) => asked.has(t))
        .map(([n]) => n);
    };
    return { ...env, refetched };
  }

  it.each([
    [InvalidationKind.KEY_REVOKED, { tenantId: "acme", keyId: "key_1" }, ["unknownAcme"]], // k1: REVOKED, kept
    [InvalidationKind.KEY_REVOKED, { keyId: "key_1" }, []],
    [InvalidationKind.KEY_REVOKED, { tenantId: "beta", keyId: "key_1" }, ["k1", "unknownBeta"]], // another tenant's id: dropped
    [InvalidationKind.KEY_ROTATED, { tenantId: "acme", keyId: "key_2" }, ["k2", "unknownAcme"]],
    [InvalidationKind.SESSION_REVOKED, { sessionId: "ses_1" }, []], // s1: REVOKED, kept
    [InvalidationKind.TENANT_SESSIONS_REVOKED, { tenantId: "acme" }, ["k1", "k2", "s1", "unknownAcme"]],
    [InvalidationKind.TENANT_POLICY_CHANGED, { tenantId: "beta" }, ["other", "unknownBeta"]],
    [InvalidationKind.KEY_CREATED, { tenantId: "acme", keyId: "key_9" }, ["unknownAcme"]],
    [InvalidationKind.SESSION_CREATED, { tenantId: "beta", sessionId: "ses_9" }, ["unknownBeta"]],
    [InvalidationKind.KEY_CHANGED, { keyId: "key_9" }, ["unknownAcme", "unknownBeta"]],
    [InvalidationKind.KEY_CHANGED, { keyId: "key_1" }, ["k1", "unknownAcme", "unknownBeta"]],
    [InvalidationKind.UNSPECIFIED, {}, ["k1", "k2", "s1", "other", "unknownAcme", "unknownBeta"]],
    [99 as InvalidationKind, { tenantId: "acme" }, ["k1", "k2", "s1", "unknownAcme"]],
    // Issue 22: a suspension only takes a key away (its negatives stay); a resumption may turn a
    // cached SUSPENDED answer wrong, so negatives go too.
    [InvalidationKind.KEY_SUSPENDED, { keyId: "key_1" }, ["k1"]],
    [InvalidationKind.KEY_SUSPENDED, { tenantId: "acme", keyId: "key_1" }, ["k1", "unknownAcme"]],
    [InvalidationKind.KEY_RESUMED, { keyId: "key_1" }, ["k1", "unknownAcme", "unknownBeta"]],
    [InvalidationKind.KEY_RESUMED, { tenantId: "acme", keyId: "key_1" }, ["k1", "unknownAcme"]],
  ])("kind %s %o drops %o", async (kind, ids, expected) => {
    const { s, client, refetched } = await cached();
    s.invalidate(kind, ids);
    expect(await refetched()).toEqual(expected);
    client.close();
  });

  it.each([
    [InvalidationKind.KEY_REVOKED, { tenantId: "acme", keyId: "key_1" }, "k1"],
    [InvalidationKind.KEY_REVOKED, { keyId: "key_1" }, "k1"],
    [InvalidationKind.KEY_GRACE_ENDED, { tenantId: "acme", keyId: "key_1" }, "k1"],
    [InvalidationKind.SESSION_REVOKED, { tenantId: "acme", sessionId: "ses_1" }, "s1"],
    [InvalidationKind.SESSION_REVOKED, { sessionId: "ses_1" }, "s1"],
  ] as const)("kind %s %o: the token is answered REVOKED locally, stream healthy or not", async (kind, ids, name) => {
    const { s, client, clock } = await cached();
    const revoked = { active: false, inactiveReason: InactiveReason.REVOKED, keyId: "", sessionId: "", tenantId: "" };
    s.invalidate(kind, ids);
    s.introspect.mockClear();
    const token = name === "k1" ? tokensOf(s, "key_1") : tokensOf(s, "ses_1");
    expect(await client.introspect(token)).toMatchObject(revoked);
    expect(await client.introspect(token, { expectedTenantId: "acme" })).toMatchObject(revoked);
    // Later changes of the tenant (policy, creations) do not bring it back to the server.
    s.invalidate(InvalidationKind.TENANT_POLICY_CHANGED, { tenantId: "acme" });
    s.invalidate(InvalidationKind.KEY_CREATED, { tenantId: "acme", keyId: "key_9" });
    s.invalidate(InvalidationKind.KEY_CHANGED, { keyId: "key_8" });
    // Stream stale, then gone, server unreachable: still inactive, never an error, no call.
    clock.advance(60_000);
    expect(client.state().healthy).toBe(false);
    for (const [t, a] of s.answers) if (a !== undefined) s.answers.set(t, new TokenClientError("unavailable", "down"));
    s.cut();
    expect(await client.introspect(token)).toMatchObject(revoked);
    expect(s.introspect).not.toHaveBeenCalled();
    expect(client.state().hits).toBeGreaterThanOrEqual(3);
    client.close();
  });

  it("drops instead when the server might answer otherwise: past expires_at, or the id under another tenant", async () => {
    const env = setup();
    const sesToken = generateToken("session", "acme");
    const keyToken = generateToken("api_key", "acme");
    const exp = env.clock.now().getTime() + 10_000;
    env.s.answers.set(
      sesToken,
      key("acme", "", { tokenType: TokenType.SESSION, sessionId: "ses_1", expiresAt: timestampFromMs(exp) }),
    );
    env.s.answers.set(keyToken, key("acme", "key_1"));
    await env.client.introspect(sesToken);
    await env.client.introspect(keyToken);
    env.clock.advance(10_000); // at expires_at: the server may say EXPIRED (an expired session)
    env.s.heartbeat();
    env.s.invalidate(InvalidationKind.SESSION_REVOKED, { tenantId: "acme", sessionId: "ses_1" });
    env.s.invalidate(InvalidationKind.KEY_REVOKED, { tenantId: "beta", keyId: "key_1" }); // a refused revoke
    env.s.answers.set(sesToken, create(IntrospectResponseSchema, { inactiveReason: InactiveReason.EXPIRED }));
    env.s.introspect.mockClear();
    expect((await env.client.introspect(sesToken)).inactiveReason).toBe(InactiveReason.EXPIRED);
    expect((await env.client.introspect(keyToken)).active).toBe(true);
    expect(env.s.introspect).toHaveBeenCalledTimes(2);
    env.client.close();
  });

  it("a tenant's sessions revoke drops (asks again): a session created while it ran is not revoked", async () => {
    const { s, client } = await cached();
    s.invalidate(InvalidationKind.TENANT_SESSIONS_REVOKED, { tenantId: "acme" });
    s.introspect.mockClear();
    expect((await client.introspect(tokensOf(s, "ses_1"))).active).toBe(true); // the server's answer
    expect(s.introspect).toHaveBeenCalledTimes(1);
    client.close();
  });

  it("a reset, a sequence gap, or another instance without a reset drops everything", async () => {
    const { s, client, refetched } = await cached();
    s.reset();
    s.heartbeat();
    expect((await refetched()).length).toBe(6);
    s.skipSequence();
    s.heartbeat(); // heartbeat ahead of what was received: something was missed
    expect((await refetched()).length).toBe(6);
    expect(await refetched()).toEqual([]);
    s.skipSequence();
    s.invalidate(InvalidationKind.KEY_REVOKED, { keyId: "key_nothing" });
    s.heartbeat();
    expect((await refetched()).length).toBe(6);
    expect(client.state().resets).toBeGreaterThanOrEqual(4);
    client.close();
  });

  it("resumes from the last instance and sequence after the stream ends", async () => {
    vi.useFakeTimers();
    try {
      const { s, client } = setup({ backoffInitialMs: 10, backoffMaxMs: 10 });
      s.invalidate(InvalidationKind.KEY_REVOKED, { keyId: "key_1" });
      s.cut();
      await vi.advanceTimersByTimeAsync(20);
      expect(s.watches.length).toBe(2);
      expect(s.watches[1]).toMatchObject({ resumeInstanceId: "i1", resumeAfterSequence: 2n });
      expect(client.state().reconnects).toBe(1);
      client.close();
    } finally {
      vi.useRealTimers();
    }
  });
  describe("a tenant's policy change that says HIPAA is on (hipaa_enabled true)", () => {
    /** The server's answer for an API key of a HIPAA tenant: nothing set but the reason. */
    const TENANT_POLICY = create(IntrospectResponseSchema, { inactiveReason: InactiveReason.TENANT_POLICY });
    const hipaaOn = { tenantId: "acme", hipaaEnabled: true };

    it("answers the tenant's cached active API keys TENANT_POLICY locally; keeps its sessions; drops its negatives", async () => {
      const { s, client, refetched } = await cached();
      s.invalidate(InvalidationKind.TENANT_POLICY_CHANGED, hipaaOn);
      // The tenant's negative answers drop as today; nothing else is asked again.
      expect(await refetched()).toEqual(["unknownAcme"]);
      s.introspect.mockClear();
      expect(await client.introspect(tokensOf(s, "key_1"))).toEqual(TENANT_POLICY);
      expect(await client.introspect(tokensOf(s, "key_2"), { expectedTenantId: "acme" })).toEqual(TENANT_POLICY);
      // As the server: TENANT_POLICY is inactive, so expected_tenant_id does not turn it into a mismatch.
      expect(await client.introspect(tokensOf(s, "key_2"), { expectedTenantId: "beta" })).toEqual(TENANT_POLICY);
      expect(await client.introspect(tokensOf(s, "ses_1"))).toMatchObject({ active: true, sessionId: "ses_1" });
      expect(await client.introspect(tokensOf(s, "key_3"))).toMatchObject({ active: true, keyId: "key_3" });
      expect(s.introspect).not.toHaveBeenCalled();
      client.close();
    });

    it.each([
      [
        "a later policy change (HIPAA off)",
        InvalidationKind.TENANT_POLICY_CHANGED,
        { tenantId: "acme", hipaaEnabled: false },
      ],
      ["a later policy change (unknown)", InvalidationKind.TENANT_POLICY_CHANGED, { tenantId: "acme" }],
      ["a later key creation of the tenant", InvalidationKind.KEY_CREATED, { tenantId: "acme", keyId: "key_9" }],
      ["a later change of the key known by id only", InvalidationKind.KEY_REVOKED, { keyId: "key_1" }],
    ] as const)("is not final: %s drops it and the server is asked", async (_name, kind, ids) => {
      const { s, client } = await cached();
      s.invalidate(InvalidationKind.TENANT_POLICY_CHANGED, hipaaOn);
      expect(await client.introspect(tokensOf(s, "key_1"))).toEqual(TENANT_POLICY);
      s.invalidate(kind, ids);
      s.introspect.mockClear();
      // The scripted server still answers the key active (HIPAA off again): the client asks and says so.
      expect(await client.introspect(tokensOf(s, "key_1"))).toMatchObject({ active: true, keyId: "key_1" });
      expect(s.introspect).toHaveBeenCalledTimes(1);
      client.close();
    });

    it("is answered only while the stream is healthy (not like a revoke): stale, the server is asked", async () => {
      const { s, client, clock } = await cached();
      const k1 = tokensOf(s, "key_1");
      s.invalidate(InvalidationKind.TENANT_POLICY_CHANGED, hipaaOn);
      s.answers.set(k1, TENANT_POLICY);
      clock.advance(1001);
      s.introspect.mockClear();
      expect(await client.introspect(k1)).toEqual(TENANT_POLICY);
      expect(s.introspect).toHaveBeenCalledTimes(1);
      client.close();
    });

    it("drops admin keys and deprecated keys at expires_at; a deprecated key's answer lasts until its expires_at", async () => {
      const env = setup();
      const admin = generateToken("api_key", "acme");
      const soon = generateToken("api_key", "acme");
      const later = generateToken("api_key", "acme");
      const t0 = env.clock.now().getTime();
      env.s.answers.set(admin, key("acme", "key_admin", { admin: true }));
      env.s.answers.set(soon, key("acme", "key_soon", { deprecated: true, expiresAt: timestampFromMs(t0 + 500) }));
      env.s.answers.set(later, key("acme", "key_later", { deprecated: true, expiresAt: timestampFromMs(t0 + 800) }));
      for (const t of [admin, soon, later]) await env.client.introspect(t);
      env.clock.advance(500);
      env.s.heartbeat();
      env.s.invalidate(InvalidationKind.TENANT_POLICY_CHANGED, hipaaOn);
      env.s.introspect.mockClear();
      expect(await env.client.introspect(later)).toEqual(TENANT_POLICY);
      expect(env.s.introspect).not.toHaveBeenCalled();
      await env.client.introspect(admin);
      await env.client.introspect(soon);
      expect(env.s.introspect.mock.calls.map((c) => c[0])).toEqual([admin, soon]);
      env.clock.advance(300); // at key_later's expires_at: the server may answer REVOKED
      env.s.heartbeat();
      env.s.introspect.mockClear();
      await env.client.introspect(later);
      expect(env.s.introspect).toHaveBeenCalledTimes(1);
      env.client.close();
    });

    it.each([
      ["false", { tenantId: "acme", hipaaEnabled: false }],
      ["absent", { tenantId: "acme" }],
    ] as const)("hipaa_enabled %s: every answer of the tenant drops, as before", async (_name, ids) => {
      const { s, client, refetched } = await cached();
      s.invalidate(InvalidationKind.TENANT_POLICY_CHANGED, ids);
      expect(await refetched()).toEqual(["k1", "k2", "s1", "unknownAcme"]);
      client.close();
    });
  });
});

describe("token client: metrics", () => {
  it("exposes its state as values and, opt-in, as prom-client metrics", async () => {
    const registry = new Registry();
    const { s, client } = setup({ registry });
    const t = generateToken("api_key", "acme");
    s.answers.set(t, key("acme", "key_1"));
    await client.introspect(t);
    await client.introspect(t);
    await client.introspect("junk");
    const text = await registry.metrics();
    expect(text).toContain("warpflow_client_cache_hits_total 1");
    expect(text).toContain("warpflow_client_cache_misses_total 1");
    expect(text).toContain("warpflow_client_local_rejections_total 1");
    expect(text).toContain("warpflow_client_stream_connected 1");
    expect(text).toContain("warpflow_client_cache_entries 1");
    expect(text).not.toContain(t);
    expect(client.state()).toMatchObject({ hits: 1, misses: 1, localRejections: 1, cacheSize: 1, connected: true });
    client.close();
  });
});

describe("token client: authenticate (the server's bearer rule, /authz's refusals)", () => {
  it("answers claims or a typed RFC 6750 refusal", async () => {
    const { s, client } = setup();
    const t = generateToken("api_key", "acme");
    s.answers.set(t, key("acme", "key_1"));
    const ok = await client.authenticate(`Bearer ${t}`);
    expect(ok.ok && ok.claims.tenantId).toBe("acme");
    expect(await client.authenticate(undefined)).toMatchObject({ status: 401, error: "unauthenticated" });
    expect(await client.authenticate("Basic abc")).toMatchObject({ status: 401, error: "unauthenticated" });
    expect(await client.authenticate(`Bearer\t${t}`)).toMatchObject({ status: 401, error: "invalid_request" });
    expect(await client.authenticate([`Bearer ${t}`, `Bearer ${t}`])).toMatchObject({ error: "invalid_request" });
    const unknown = await client.authenticate(`bearer ${generateToken("api_key", "acme")}`);
    expect(unknown).toMatchObject({ status: 401, error: "invalid_token" });
    expect(!unknown.ok && unknown.wwwAuthenticate).toContain('error="invalid_token"');
    expect(await client.authenticate(`Bearer ${t}`, { expectedTenantId: "beta" })).toMatchObject({
      status: 403,
      error: "insufficient_scope",
    });
    s.cut();
    const down = generateToken("api_key", "acme");
    s.answers.set(down, new TokenClientError("unavailable", "down"));
    expect(await client.authenticate(`Bearer ${down}`)).toMatchObject({ ok: false, status: 503 });
    client.close();
  });
});

describe("token client: peek (synchronous, for middleware)", () => {
  it("answers only what introspect would answer from cache, never calls the server", async () => {
    const { clock, s, client } = setup({ stalenessMs: 1000 });
    const t = generateToken("api_key", "acme");
    s.answers.set(t, key("acme", "key_1"));
    expect(client.peek(t)).toBeUndefined(); // not cached: the caller must ask
    expect(s.introspect).not.toHaveBeenCalled();
    await client.introspect(t);
    expect(client.peek(t)).toMatchObject({ active: true, tenantId: "acme", keyId: "key_1" });
    expect(client.peek(t, { expectedTenantId: "acme" })?.active).toBe(true);
    expect(client.peek(t, { expectedTenantId: "other" })).toMatchObject({
      active: false,
      inactiveReason: InactiveReason.TENANT_MISMATCH,
    });
    clock.advance(1000); // age == bound: still usable
    expect(client.peek(t)?.active).toBe(true);
    clock.advance(1); // past the staleness bound
    expect(client.peek(t)).toBeUndefined();
    s.heartbeat(false); // incomplete
    expect(client.peek(t)).toBeUndefined();
    s.heartbeat(true);
    expect(client.peek(t)?.active).toBe(true);
    s.cut();
    expect(client.peek(t)).toBeUndefined();
    expect(s.introspect).toHaveBeenCalledTimes(1);
    expect(client.state().hits).toBe(5);
    client.close();
  });

  it("answers malformed tokens locally, nothing for an empty one", () => {
    const { s, client } = setup();
    expect(client.peek("wf_acme_notatoken")).toMatchObject({ active: false, inactiveReason: InactiveReason.MALFORMED });
    expect(client.peek("x".repeat(20_000))?.inactiveReason).toBe(InactiveReason.MALFORMED);
    expect(client.peek("")).toBeUndefined();
    expect(s.introspect).not.toHaveBeenCalled();
    expect(client.state().localRejections).toBe(2);
    client.close();
  });

  it("never answers active at or after expires_at, nor after an invalidation; a revoke is final", async () => {
    const { clock, s, client } = setup();
    const sess = generateToken("session", "acme");
    const k = generateToken("api_key", "acme");
    const k2 = generateToken("api_key", "acme");
    s.answers.set(
      sess,
      key("acme", "", {
        tokenType: TokenType.SESSION,
        sessionId: "ses_1",
        expiresAt: timestampFromMs(clock.now().getTime() + 500),
      }),
    );
    s.answers.set(k, key("acme", "key_1"));
    s.answers.set(k2, key("acme", "key_2"));
    await Promise.all([client.introspect(sess), client.introspect(k), client.introspect(k2)]);
    clock.advance(499);
    s.heartbeat();
    expect(client.peek(sess)?.active).toBe(true);
    clock.advance(1);
    expect(client.peek(sess)).toBeUndefined();
    s.invalidate(InvalidationKind.KEY_ROTATED, { tenantId: "acme", keyId: "key_2" });
    expect(client.peek(k2)).toBeUndefined();
    s.invalidate(InvalidationKind.KEY_REVOKED, { tenantId: "acme", keyId: "key_1" });
    s.cut();
    expect(client.peek(k)).toMatchObject({ active: false, inactiveReason: InactiveReason.REVOKED });
    client.close();
  });

  it("an answer read before an invalidation is not cached (epoch rule): peek has nothing", async () => {
    const { s, client } = setup();
    const t = generateToken("api_key", "acme");
    s.answers.set(t, key("acme", "key_1"));
    const pending = client.introspect(t);
    s.invalidate(InvalidationKind.KEY_ROTATED, { tenantId: "acme", keyId: "key_1" });
    expect((await pending).active).toBe(true);
    expect(client.peek(t)).toBeUndefined();
    client.close();
  });

  it("introspect (no longer an async function) answers hits and refusals as promises, never throwing synchronously", async () => {
    const { s, client } = setup();
    const t = generateToken("api_key", "acme");
    s.answers.set(t, key("acme", "key_1"));
    await client.introspect(t);
    expect((await client.introspect(t)).keyId).toBe("key_1");
    expect(s.introspect).toHaveBeenCalledTimes(1);
    expect((await client.introspect(t, { expectedTenantId: "other" })).inactiveReason).toBe(
      InactiveReason.TENANT_MISMATCH,
    );
    let p: Promise<unknown> | undefined;
    expect(() => (p = client.introspect(""))).not.toThrow();
    await expect(p).rejects.toMatchObject({ code: "invalid_argument" });
    client.close();
  });
});

describe("token client: an awaited hit returns the entry's settled promise", () => {
  it("the same promise for every hit of one entry; a new one when the entry changes (revoke, new answer)", async () => {
    const { s, client } = setup();
    const t = generateToken("api_key", "acme");
    s.answers.set(t, key("acme", "key_1"));
    await client.introspect(t);
    const first = client.introspect(t);
    expect(client.introspect(t)).toBe(first);
    expect((await first).active).toBe(true);
    s.invalidate(InvalidationKind.KEY_REVOKED, { tenantId: "acme", keyId: "key_1" });
    const revoked = client.introspect(t);
    expect(revoked).not.toBe(first);
    expect(await revoked).toMatchObject({ active: false, inactiveReason: InactiveReason.REVOKED });
    expect(client.introspect(t)).toBe(revoked);
    expect(s.introspect).toHaveBeenCalledTimes(1);
    client.close();
  });

  it("expected_tenant_id still applies to a hit whose entry holds a settled promise; stale entries are not answered", async () => {
    const { clock, s, client } = setup();
    const t = generateToken("api_key", "acme");
    s.answers.set(t, key("acme", "key_1"));
    await client.introspect(t);
    const plain = client.introspect(t);
    const other = client.introspect(t, { expectedTenantId: "beta" });
    expect(other).not.toBe(plain);
    expect((await other).inactiveReason).toBe(InactiveReason.TENANT_MISMATCH);
    expect((await client.introspect(t, { expectedTenantId: "acme" })).active).toBe(true);
    // Past the staleness bound the entry's promise is not handed out: the server is asked.
    clock.advance(1001);
    const asked = client.introspect(t);
    expect(asked).not.toBe(plain);
    await asked;
    expect(s.introspect).toHaveBeenCalledTimes(2);
    client.close();
  });
});
