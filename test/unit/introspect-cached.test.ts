import { describe, expect, it } from "vitest";
import type { CachedAnswer } from "../../src/domain/introspector.js";
import { createDomain } from "../support/domain.js";
import { HOUR } from "../support/manual-clock.js";
import { sleep } from "../support/poll.js";
import { generateToken } from "../../src/domain/token-format.js";

/**
 * Issue 21: the synchronous cache-hit path (introspectCached) gives what introspect gives, and
 * the answer it keeps with the cache entry (with the encoded bytes a transport stores in it) is
 * recomputed at the token's expiry, its grace end, a policy change, a revoke and the entry's end.
 */
async function both(d: ReturnType<typeof createDomain>, token: string, expected?: string) {
  const slow = await d.introspector.introspect(token, expected);
  const fast = d.introspector.introspectCached!(token, expected);
  expect(fast, "cached after introspect").toBeDefined();
  expect(fast!.result).toEqual(slow);
  return fast!;
}

describe("introspectCached", () => {
  it("answers as introspect does once cached, and nothing (undefined) before", async () => {
    const d = createDomain();
    const { token: key } = await d.keys.create("acme", "k", "test");
    const { token: session } = await d.sessions.create("acme", "test");
    expect(d.introspector.introspectCached!(key)).toBeUndefined(); // not cached: introspect reads
    expect(d.introspector.introspectCached!("")).toBeUndefined(); // introspect throws invalid_argument
    expect((await both(d, key)).result.active).toBe(true);
    expect((await both(d, session)).result.active).toBe(true);
    expect((await both(d, key, "other")).result).toEqual({ active: false, reason: "tenant_mismatch" });
    expect((await both(d, "garbage")).result).toEqual({ active: false, reason: "malformed" });
    const unknown = generateToken("api_key", "acme"); // well formed, never issued
    expect((await both(d, unknown)).result).toEqual({ active: false, reason: "not_found" });
  });

  it("keeps one answer (and what a transport stored in it) until it must be recomputed", async () => {
    const d = createDomain();
    const { token, key } = await d.keys.create("acme", "k", "test");
    const first = await both(d, token);
    first.encoded = "bytes";
    expect(d.introspector.introspectCached!(token)).toBe(first);
    // A revoke invalidates: a new answer, inactive.
    await d.keys.revoke("acme", key.id, "test");
    await d.introspector.introspect(token);
    const after = d.introspector.introspectCached!(token)!;
    expect(after).not.toBe(first);
    expect(after.encoded).toBeUndefined();
    expect(after.result).toEqual({ active: false, reason: "revoked" });
  });

  it("a rotated key's answer ends with its grace period; a session's with its expiry", async () => {
    const d = createDomain();
    const issued = await d.keys.create("acme", "k2", "test");
    await d.keys.rotate("acme", issued.key.id, "test");
    const deprecated = await both(d, issued.token);
    expect(deprecated.result).toMatchObject({ active: true, deprecated: true });
    expect(d.introspector.introspectCached!(issued.token)).toBe(deprecated);
    d.clock.advance(73 * HOUR);
    const ended = d.introspector.introspectCached!(issued.token)!;
    expect(ended.result).toEqual({ active: false, reason: "revoked" });
    expect(ended.result).toEqual(await d.introspector.introspect(issued.token));

    const s = await d.sessions.create("acme", "test");
    const live: CachedAnswer = await both(d, s.token);
    expect(live.result.active).toBe(true);
    d.clock.set(new Date(s.session.expiresAt.getTime() + 1));
    const expired = d.introspector.introspectCached!(s.token)!;
    expect(expired.result).toEqual({ active: false, reason: "expired" });
  });

  it("a tenant policy change turns the cached answer to tenant_policy", async () => {
    const d = createDomain();
    const { token } = await d.keys.create("acme", "k", "test");
    expect((await both(d, token)).result.active).toBe(true);
    await d.policies.set("acme", true, "test");
    await d.introspector.introspect(token); // reads the new policy
    expect(d.introspector.introspectCached!(token)!.result).toEqual({ active: false, reason: "tenant_policy" });
  });

  it("an entry past its own deadline is gone (the deadline is kept in the entry)", async () => {
    const d = createDomain({ cache: { ttlMs: 40 } });
    const { token } = await d.keys.create("acme", "k", "test");
    await both(d, token);
    await sleep(80);
    expect(d.introspector.introspectCached!(token)).toBeUndefined();
  });
});
