// The client cache at its edges (src/client/): scenarios where a client once answered active, or
// otherwise not what the server answers, against docs/client.md (found by an adversarial review).
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { describe, expect, it, vi } from "vitest";
import { createTokenClient } from "../../src/client/token-client.js";
import { TokenClientError } from "../../src/client/errors.js";
import { generateToken } from "../../src/domain/token-format.js";
import {
  InactiveReason,
  InvalidationKind,
  IntrospectResponseSchema,
  TokenType,
} from "../../src/gen/warpflow/auth/v1/token_service_pb.js";
import { activeKey, scriptedChannel, scriptedClient } from "../support/scripted-token-channel.js";

const key = activeKey;
const REVOKED = create(IntrospectResponseSchema, { inactiveReason: InactiveReason.REVOKED });

const setup = scriptedClient;

describe("ride-through", () => {
  it("does not ride through on an answer the stream revoked while the call was in flight", async () => {
    const { clock, s, client } = setup({ rideThroughMs: 5000 });
    const k = generateToken("api_key", "acme");
    s.answers.set(k, key("acme", "key_1"));
    await client.introspect(k);
    clock.advance(1001); // a stale stream (no heartbeat): the next lookup asks the server
    const call = s.holdNext();
    const pending = client.introspect(k);
    // While the call is out, the stream delivers the revoke, then drops; the server is unreachable.
    s.invalidate(InvalidationKind.KEY_REVOKED, { tenantId: "acme", keyId: "key_1" });
    s.cut();
    expect(client.peek(k)).toMatchObject({ active: false, inactiveReason: InactiveReason.REVOKED });
    call.reject!(new TokenClientError("unavailable", "down"));
    const answer = await pending.catch((e: unknown) => e);
    // The client knows the key is revoked: REVOKED or a failure, never active.
    expect(answer).not.toMatchObject({ active: true });
    client.close();
  });

  it("does not ride through on an answer dropped by a reset while the call was in flight", async () => {
    const { clock, s, client } = setup({ rideThroughMs: 5000 });
    const k = generateToken("api_key", "acme");
    s.answers.set(k, key("acme", "key_1"));
    await client.introspect(k);
    clock.advance(1001);
    const call = s.holdNext();
    const pending = client.introspect(k);
    s.reset(); // everything dropped: the client may have missed the key's revoke
    s.cut();
    expect(client.state().cacheSize).toBe(0);
    call.reject!(new TokenClientError("unavailable", "down"));
    await expect(pending).rejects.toMatchObject({ code: "unavailable" });
    client.close();
  });

  it("does not ride through on an answer past maxAgeMs (the lifetime of any cached answer)", async () => {
    const { clock, s, client } = setup({ rideThroughMs: 5000, maxAgeMs: 10_000 });
    const k = generateToken("api_key", "acme");
    s.answers.set(k, key("acme", "key_1"));
    await client.introspect(k);
    clock.advance(10_000); // the answer's lifetime is over; the stream is healthy
    s.heartbeat();
    s.cut();
    s.answers.set(k, new TokenClientError("unavailable", "down"));
    await expect(client.introspect(k)).rejects.toMatchObject({ code: "unavailable" });
    client.close();
  });
});

describe("concurrent misses and the epoch rule", () => {
  it("a lookup made after an invalidation does not join a call sent before it", async () => {
    const { s, client } = setup();
    const k = generateToken("api_key", "acme");
    const call = s.holdNext();
    const first = client.introspect(k); // sent while the key is active
    s.invalidate(InvalidationKind.KEY_REVOKED, { tenantId: "acme", keyId: "key_1" });
    s.answers.set(k, REVOKED); // what the server answers from now on
    const second = client.introspect(k); // asked after the client applied the revoke
    call.resolve!(key("acme", "key_1"));
    expect((await first).active).toBe(true); // the server's answer to a call sent before the revoke
    expect(await second).toMatchObject({ active: false, inactiveReason: InactiveReason.REVOKED });
    client.close();
  });

  it("a lookup made after a reset does not join a call sent before it", async () => {
    const { s, client } = setup();
    const k = generateToken("api_key", "acme");
    const call = s.holdNext();
    const first = client.introspect(k);
    s.reset();
    s.heartbeat();
    s.answers.set(k, REVOKED);
    const second = client.introspect(k);
    call.resolve!(key("acme", "key_1"));
    await first;
    expect((await second).active).toBe(false);
    client.close();
  });
});

describe("the caller's clock going backwards", () => {
  it("a stream silent for longer than stalenessMs is not healthy after the wall clock steps back", async () => {
    vi.useFakeTimers({ now: new Date("2026-02-22T14:30:00Z") });
    try {
      const s = scriptedChannel();
      // No injected clock: the system clock (Date.now), as in production.
      const client = createTokenClient({ address: "unused", channel: s.channel });
      s.reset();
      s.heartbeat();
      const k = generateToken("api_key", "acme");
      s.answers.set(k, key("acme", "key_1"));
      await client.introspect(k);
      vi.setSystemTime(Date.now() - 60_000); // an NTP step back of one minute
      await vi.advanceTimersByTimeAsync(10_000); // then 10 s pass with no stream message at all
      expect(client.state().healthy).toBe(false);
      s.introspect.mockClear();
      await client.introspect(k);
      expect(s.introspect).toHaveBeenCalledTimes(1); // asked, not answered from cache
      client.close();
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("answers handed to callers are shared", () => {
  it("one caller changing its claims does not change what the next caller is answered", async () => {
    const { s, client } = setup();
    const k = generateToken("api_key", "acme");
    s.answers.set(k, key("acme", "key_1", { scopes: ["read"] }));
    const mine = await client.introspect(k);
    try {
      mine.scopes.push("admin"); // caller code that extends its own copy of the claims
    } catch {
      // frozen: fine
    }
    const other = await client.introspect(k, { requiredScopes: ["admin"] });
    expect(other).toMatchObject({ active: false, inactiveReason: InactiveReason.INSUFFICIENT_SCOPE });
    client.close();
  });
});

describe("shared constant answers", () => {
  it("are frozen with their arrays, like cached answers (MALFORMED from a local refusal)", () => {
    const { client } = setup();
    const a = client.peek("not-a-token")!;
    expect(a).toMatchObject({ active: false, inactiveReason: InactiveReason.MALFORMED });
    expect(Object.isFrozen(a)).toBe(true);
    expect(Object.isFrozen(a.scopes)).toBe(true);
    client.close();
  });
});

describe("ride-through after incomplete heartbeats", () => {
  it("does not ride through on a cache the stream stopped vouching for (complete: false) long before", async () => {
    const { clock, s, client } = setup({ rideThroughMs: 5000 });
    const k = generateToken("api_key", "acme");
    s.answers.set(k, key("acme", "key_1"));
    await client.introspect(k);
    // The server's change feed goes down: heartbeats keep coming but say incomplete. For a minute
    // the client hears nothing of changes made on other instances (a revoke of key_1, say).
    for (let i = 0; i < 120; i++) {
      clock.advance(500);
      s.heartbeat(false);
    }
    expect(client.state().healthy).toBe(false);
    // Then the stream and the server both become unreachable.
    s.cut();
    s.answers.set(k, new TokenClientError("unavailable", "down"));
    clock.advance(100);
    await expect(client.introspect(k)).rejects.toMatchObject({ code: "unavailable" });
    client.close();
  });
});

describe("secrets in errors", () => {
  it("a caller token a header cannot carry is refused without echoing it", () => {
    const secret = "caller-secret-0123456789\n"; // e.g. read from a file with its newline
    let thrown: unknown;
    let client: ReturnType<typeof createTokenClient> | undefined;
    try {
      client = createTokenClient({ address: "127.0.0.1:1", callerToken: secret, backoffInitialMs: 60_000 });
    } catch (e) {
      thrown = e;
    }
    client?.close();
    expect(String((thrown as Error | undefined)?.message ?? "")).not.toContain("caller-secret");
    expect(String((thrown as Error | undefined)?.stack ?? "")).not.toContain("caller-secret");
  });
});

describe("the silent-stream watchdog and the wall clock", () => {
  it("a silent stream is still cut and reopened after the wall clock steps back", async () => {
    vi.useFakeTimers({ now: new Date("2026-02-22T14:30:00Z") });
    try {
      const s = scriptedChannel();
      const client = createTokenClient({
        address: "unused",
        channel: s.channel,
        backoffInitialMs: 10,
        backoffMaxMs: 10,
      });
      s.reset();
      s.heartbeat();
      vi.setSystemTime(Date.now() - 60_000); // an NTP step back of one minute
      await vi.advanceTimersByTimeAsync(10_000); // silentMs is 3000: the stream must have been cut
      expect(client.state().reconnects).toBeGreaterThanOrEqual(1);
      client.close();
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("authenticate behind a Node HTTP server, as docs/client.md shows it", () => {
  it("two Authorization headers are no credential (as /authz answers), with the documented one-liner", async () => {
    const http = await import("node:http");
    const net = await import("node:net");
    const { s, client } = setup();
    const good = generateToken("api_key", "acme");
    s.answers.set(good, key("acme", "key_1"));
    const other = generateToken("api_key", "acme");
    // The documented one-liner, with the documented header source.
    const server = http.createServer((req, res) => {
      void (async () => {
        const auth = await client.authenticate(docsHeaderOf(req));
        if (!auth.ok) return res.writeHead(auth.status, { "www-authenticate": auth.wwwAuthenticate ?? "" }).end();
        res.writeHead(200).end();
      })();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    const status = await new Promise<string>((resolve, reject) => {
      const sock = net.connect(port, "127.0.0.1", () => {
        sock.write(
          `GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${good}\r\nAuthorization: Bearer ${other}\r\nConnection: close\r\n\r\n`,
        );
      });
      let data = "";
      sock.on("data", (d) => (data += d.toString()));
      sock.on("end", () => resolve(data.split("\r\n")[0]!));
      sock.on("error", reject);
    });
    server.close();
    client.close();
    expect(status).toBe("HTTP/1.1 401 Unauthorized");
  });
});

/** The header value docs/client.md passes to authenticate in its Node HTTP one-liner. */
function docsHeaderOf(req: import("node:http").IncomingMessage): string | string[] | undefined {
  return req.headersDistinct.authorization;
}

describe("an expected tenant id the server refuses", () => {
  it("is refused (invalid_argument) on a hit as on a miss, as the server refuses it", async () => {
    const { s, client } = setup();
    const k = generateToken("api_key", "acme");
    s.answers.set(k, key("acme", "key_1"));
    const tooLong = "a".repeat(64); // the server: INVALID_ARGUMENT (token-service-handlers.ts)
    s.answers.set(k, new TokenClientError("invalid_argument", "introspect failed: expected_tenant_id"));
    await expect(client.introspect(k, { expectedTenantId: tooLong })).rejects.toMatchObject({
      code: "invalid_argument",
    }); // a miss: the server's refusal
    s.answers.set(k, key("acme", "key_1"));
    await client.introspect(k); // now cached
    await expect(client.introspect(k, { expectedTenantId: tooLong })).rejects.toMatchObject({
      code: "invalid_argument",
    }); // a hit must not answer otherwise
    expect(client.peek(k, { expectedTenantId: tooLong })).toBeUndefined();
    client.close();
  });
});

describe("the server's clock ahead of the caller's", () => {
  it("a session is not answered active from cache once the SERVER's clock is past its expires_at", async () => {
    const { clock, s, client } = setup();
    const t0 = clock.now().getTime();
    const LEAD = 10_000; // the server's clock reads 10 s later than the caller's
    s.heartbeat(true, t0 + LEAD);
    const sess = generateToken("session", "acme");
    // The server answers it active until its own clock reads t0 + LEAD + 5 s (5 s from now).
    s.answers.set(
      sess,
      key("acme", "", {
        tokenType: TokenType.SESSION,
        sessionId: "ses_1",
        expiresAt: timestampFromMs(t0 + LEAD + 5000),
      }),
    );
    expect((await client.introspect(sess)).active).toBe(true);
    clock.advance(4000);
    s.heartbeat(true, clock.now().getTime() + LEAD);
    expect(client.peek(sess)?.active).toBe(true); // the server's clock: 1 s before expiry
    clock.advance(2000);
    s.heartbeat(true, clock.now().getTime() + LEAD);
    // The server's clock is 1 s past expires_at; the caller's is still 9 s before it.
    expect(client.peek(sess)).toBeUndefined();
    client.close();
  });

  it("a lead that grows by more than transit explains (the caller's clock stepped back) drops the cache", async () => {
    const { clock, s, client } = setup();
    s.heartbeat(true, clock.now().getTime());
    const k = generateToken("api_key", "acme");
    s.answers.set(k, key("acme", "key_1"));
    await client.introspect(k);
    expect(client.state().cacheSize).toBe(1);
    const resets = client.state().resets;
    clock.advance(500);
    s.heartbeat(true, clock.now().getTime() + 5000);
    expect(client.state().cacheSize).toBe(0);
    expect(client.state().resets).toBe(resets + 1);
    client.close();
  });
});

describe("an answer read just after an invalidation of the same key, session or tenant", () => {
  // Behind a balancer that spreads calls over instances, the answer may come from an instance that
  // has not yet applied the revoke the followed instance announced: it is returned (it is the
  // server's answer) but not cached, for settleMs after the invalidation (docs/client.md).
  it("is not cached while the id was invalidated within settleMs; cached again after", async () => {
    const { clock, s, client } = setup({ settleMs: 3000 });
    const k = generateToken("api_key", "acme");
    s.answers.set(k, key("acme", "key_1")); // a lagging instance still says active
    s.invalidate(InvalidationKind.KEY_REVOKED, { tenantId: "acme", keyId: "key_1" }); // not cached here: nothing to make final
    const calls = () => s.introspect.mock.calls.length;
    const before = calls();
    expect(await client.introspect(k)).toMatchObject({ active: true }); // the server's answer
    expect(await client.introspect(k)).toMatchObject({ active: true });
    expect(calls() - before).toBe(2); // asked twice: not cached
    expect(client.peek(k)).toBeUndefined();
    s.answers.set(k, REVOKED); // the lagging instance caught up
    expect(await client.introspect(k)).toMatchObject({ active: false, inactiveReason: InactiveReason.REVOKED });
    // Past settleMs, answers for the key are cached again.
    clock.advance(3001);
    s.heartbeat();
    s.answers.set(k, key("acme", "key_1"));
    await client.introspect(k);
    const after = calls();
    await client.introspect(k);
    expect(calls()).toBe(after);
    client.close();
  });

  it("a tenant-wide invalidation (policy, sessions) holds back the tenant's active answers likewise; other tenants' are cached", async () => {
    const { s, client } = setup({ settleMs: 3000 });
    const a = generateToken("api_key", "acme");
    const g = generateToken("api_key", "globex");
    s.answers.set(a, key("acme", "key_a"));
    s.answers.set(g, key("globex", "key_g"));
    s.invalidate(InvalidationKind.TENANT_POLICY_CHANGED, { tenantId: "acme" });
    await client.introspect(a);
    await client.introspect(g);
    expect(client.peek(a)).toBeUndefined();
    expect(client.peek(g)).toMatchObject({ active: true, tenantId: "globex" });
    client.close();
  });

  it("a creation does not hold back the new token's answers (a lagging instance would answer it inactive: fails closed)", async () => {
    const { s, client } = setup({ settleMs: 3000 });
    const t = generateToken("api_key", "acme");
    s.invalidate(InvalidationKind.KEY_CREATED, { tenantId: "acme", keyId: "key_new" });
    s.answers.set(t, key("acme", "key_new"));
    await client.introspect(t);
    expect(client.peek(t)).toMatchObject({ active: true, keyId: "key_new" });
    client.close();
  });
});
