import { describe, expect, it } from "vitest";
import { createInvalidationHub, type InvalidationHub, type WatchEvent } from "../../src/domain/invalidation-hub.js";
import { DomainError } from "../../src/domain/errors.js";
import { sleep, waitUntil } from "../support/poll.js";

const clock = { now: () => new Date("2026-12-07T00:00:00Z") };
const hub = (over: Partial<Parameters<typeof createInvalidationHub>[0]> = {}) =>
  createInvalidationHub({ clock, heartbeatMs: 20, replayBuffer: 16, complete: () => true, ...over });

const iterate = <T>(a: AsyncIterable<T>) => a[Symbol.asyncIterator]();

/** Reads a watcher into an array in the background (a fast reader). */
function reader(h: InvalidationHub, req = { resumeInstanceId: "", resumeAfterSequence: 0 }) {
  const ac = new AbortController();
  const seen: WatchEvent[] = [];
  let error: unknown;
  const done = (async () => {
    try {
      for await (const ev of h.watch(req, { signal: ac.signal })) seen.push(ev);
    } catch (err) {
      error = err;
    }
  })();
  return { seen, stop: () => ac.abort(), done, error: () => error };
}
const numbered = (evs: WatchEvent[]) =>
  evs.filter((e) => e.type !== "heartbeat" && !(e.type === "reset" && e.reason !== "feed_restarted"));

describe("invalidation hub", () => {
  it("numbers invalidations and feed resets 1, 2, 3 per instance; a fresh watcher starts with START at the latest sequence, then a heartbeat", async () => {
    const h = hub();
    h.publish({ kind: "key_created", tenantId: "acme", keyId: "key_a" });
    const r = reader(h);
    await waitUntil(() => r.seen.length >= 2);
    expect(r.seen[0]).toEqual({ type: "reset", sequence: 1, reason: "start" });
    expect(r.seen[1]).toMatchObject({ type: "heartbeat", sequence: 1, complete: true, intervalMs: 20 });
    h.publish({ kind: "key_revoked", tenantId: "acme", keyId: "key_a" });
    h.feedRestarted();
    h.publish({ kind: "tenant_policy_changed", tenantId: "acme" });
    await waitUntil(() => numbered(r.seen).length === 3);
    expect(numbered(r.seen).map((e) => [e.sequence, e.type])).toEqual([
      [2, "invalidation"],
      [3, "reset"],
      [4, "invalidation"],
    ]);
    await waitUntil(() => r.seen.at(-1)!.type === "heartbeat" && r.seen.at(-1)!.sequence === 4);
    expect(h.instanceId).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(hub().instanceId).not.toBe(h.instanceId);
    r.stop();
    await r.done;
    expect(h.watchers).toBe(0);
    h.close();
  });

  it("resumes from the buffer without a reset; a point it cannot replay is a GAP reset", async () => {
    const h = hub({ replayBuffer: 8 });
    for (let i = 0; i < 5; i++) h.publish({ kind: "session_created", tenantId: "t", sessionId: `ses_${i}` });
    const r = reader(h, { resumeInstanceId: h.instanceId, resumeAfterSequence: 3 });
    await waitUntil(() => r.seen.some((e) => e.type === "heartbeat"));
    expect(r.seen.map((e) => [e.type, e.sequence])).toEqual([
      ["invalidation", 4],
      ["invalidation", 5],
      ["heartbeat", 5],
    ]);
    r.stop();
    const caughtUp = reader(h, { resumeInstanceId: h.instanceId, resumeAfterSequence: 5 });
    await waitUntil(() => caughtUp.seen.length >= 1);
    expect(caughtUp.seen[0]).toMatchObject({ type: "heartbeat", sequence: 5 });
    caughtUp.stop();
    for (let i = 5; i < 30; i++) h.publish({ kind: "session_created", tenantId: "t", sessionId: `ses_${i}` });
    for (const req of [
      { resumeInstanceId: h.instanceId, resumeAfterSequence: 3 }, // trimmed from the buffer
      { resumeInstanceId: h.instanceId, resumeAfterSequence: 31 }, // never numbered
      { resumeInstanceId: "another-instance", resumeAfterSequence: 29 },
    ]) {
      const g = reader(h, req);
      await waitUntil(() => g.seen.length >= 2);
      expect(g.seen[0], JSON.stringify(req)).toEqual({ type: "reset", sequence: 30, reason: "gap" });
      g.stop();
    }
    const replay = reader(h, { resumeInstanceId: h.instanceId, resumeAfterSequence: 22 });
    await waitUntil(() => replay.seen.some((e) => e.type === "heartbeat"));
    expect(numbered(replay.seen).map((e) => e.sequence)).toEqual([23, 24, 25, 26, 27, 28, 29, 30]);
    replay.stop();
    h.close();
  });

  it("heartbeats carry the latest sequence, the server time and `complete` as it is now", async () => {
    let complete = true;
    const h = hub({ complete: () => complete });
    const r = reader(h);
    await waitUntil(() => r.seen.filter((e) => e.type === "heartbeat").length >= 3);
    complete = false;
    await waitUntil(
      () => r.seen.at(-1)!.type === "heartbeat" && (r.seen.at(-1) as { complete: boolean }).complete === false,
    );
    expect(r.seen.at(-1)).toMatchObject({ serverTime: clock.now(), intervalMs: 20, sequence: 0 });
    r.stop();
    h.close();
  });

  it("a reader more than the buffer behind is evicted (RESOURCE_EXHAUSTED, onEvicted called); a reader that takes nothing for stallMs too", async () => {
    const h = hub({ replayBuffer: 8 });
    let hungUp = 0;
    const it = iterate(h.watch({ resumeInstanceId: "", resumeAfterSequence: 0 }, { onEvicted: () => hungUp++ }));
    expect((await it.next()).value).toMatchObject({ type: "reset" }); // then the reader stops reading
    for (let i = 0; i < 9; i++) h.publish({ kind: "key_changed", keyId: `key_${i}` });
    expect(hungUp).toBe(0); // 9 behind, buffer 8 (+1/8 slack): still replayable
    h.publish({ kind: "key_changed", keyId: "key_9" });
    expect(hungUp).toBe(1);
    expect(h.watchers).toBe(0);
    await expect(it.next()).rejects.toSatisfy((e) => e instanceof DomainError && e.code === "resource_exhausted");

    // stallMs well above the 60 ms nap below: a loaded machine's timers can run 100 ms late.
    const stalling = hub({ stallMs: 500 });
    let stalled = 0;
    const s = iterate(stalling.watch({ resumeInstanceId: "", resumeAfterSequence: 0 }, { onEvicted: () => stalled++ }));
    await s.next();
    await sleep(60);
    expect(stalled).toBe(0);
    await waitUntil(() => stalled === 1, 5000, "stall eviction");
    expect(stalling.watchers).toBe(0);
    // A fast reader with nothing waiting is never a stalled one.
    const fast = reader(stalling);
    await sleep(1200); // more than twice stallMs

    expect(fast.error()).toBeUndefined();
    expect(stalling.watchers).toBe(1);
    fast.stop();
    stalling.close();
    h.close();
  });

  it("a heartbeat tick reaches at most 100 watchers per turn of the event loop, and every watcher in the end", async () => {
    const h = hub({ heartbeatMs: 300 });
    const rs = Array.from({ length: 250 }, () => reader(h));
    const beats = () => rs.reduce((n, r) => n + r.seen.filter((e) => e.type === "heartbeat").length, 0);
    await waitUntil(() => beats() === 250); // the heartbeat each gets at once
    // Count the tick's heartbeats once per turn of the loop until all 250 have theirs.
    const perTurn: number[] = [];
    let last = beats();
    await new Promise<void>((resolve) => {
      const sample = () => {
        const now = beats();
        if (now > last) perTurn.push(now - last);
        last = now;
        if (now >= 500) resolve();
        else setImmediate(sample);
      };
      setImmediate(sample);
    });
    expect(perTurn.reduce((a, b) => a + b, 0)).toBe(250);
    expect(Math.max(...perTurn)).toBeLessThanOrEqual(100);
    expect(perTurn.length).toBeGreaterThanOrEqual(3);
    // One published between the tick's turns comes first on every stream; heartbeats then name it.
    h.publish({ kind: "key_revoked", keyId: "k1" });
    await waitUntil(() => beats() >= 750, 5000, "the next tick");
    for (const r of rs) {
      const at = r.seen.findIndex((e) => e.type === "invalidation");
      expect(at).toBeGreaterThan(0);
      expect(r.seen.slice(at + 1).every((e) => e.type !== "heartbeat" || e.sequence === 1)).toBe(true);
    }
    rs.forEach((r) => r.stop());
    h.close();
  });

  it("close() ends every watcher", async () => {
    const h = hub();
    const r = reader(h);
    await waitUntil(() => r.seen.length >= 2);
    h.close();
    await r.done;
    expect(r.error()).toBeUndefined();
  });
});
