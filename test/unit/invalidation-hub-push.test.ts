import { describe, expect, it } from "vitest";
import { createInvalidationHub, type WatchEvent, type WatchSink } from "../../src/domain/invalidation-hub.js";
import { DomainError } from "../../src/domain/errors.js";
import { waitUntil } from "../support/poll.js";

/**
 * The hub's callback-driven watchers (subscribe: the direct gRPC path) give the same events as its
 * iterator (watch, test/unit/invalidation-hub.test.ts): a sink with room gets each at once; a full
 * sink gets nothing until resume(), and is evicted when it falls behind the buffer or takes nothing
 * for stallMs while something waits; close() of the hub ends it with no error.
 */
const clock = { now: () => new Date("2026-12-07T00:00:00Z") };
const hub = (over: Partial<Parameters<typeof createInvalidationHub>[0]> = {}) =>
  createInvalidationHub({ clock, heartbeatMs: 20, replayBuffer: 16, complete: () => true, ...over });

function sink(room = Infinity) {
  const s = {
    seen: [] as WatchEvent[],
    room,
    evicted: undefined as DomainError | undefined,
    ended: [] as unknown[],
  };
  const out: WatchSink<WatchEvent> & { s: typeof s } = {
    s,
    send(ev) {
      s.seen.push(ev);
      return --s.room > 0;
    },
    evicted(err) {
      s.evicted = err;
    },
    end(err) {
      s.ended.push(err);
    },
  };
  return out;
}
const same = (ev: WatchEvent) => ev;
const numbered = (evs: WatchEvent[]) => evs.filter((e) => e.type === "invalidation").map((e) => e.sequence);

describe("invalidation hub, pushed watchers (subscribe)", () => {
  it("sends the START reset and a heartbeat before subscribe returns, then every event as it is published", () => {
    const h = hub();
    h.publish({ kind: "key_created", tenantId: "t", keyId: "k" });
    const k = sink();
    const handle = h.subscribe({ resumeInstanceId: "", resumeAfterSequence: 0 }, k, same);
    expect(k.s.seen.map((e) => e.type)).toEqual(["reset", "heartbeat"]);
    expect(k.s.seen[0]).toEqual({ type: "reset", sequence: 1, reason: "start" });
    h.publish({ kind: "key_revoked", tenantId: "t", keyId: "k" });
    h.feedRestarted();
    expect(k.s.seen.slice(2).map((e) => [e.type, e.sequence])).toEqual([
      ["invalidation", 2],
      ["reset", 3],
    ]);
    expect(h.watchers).toBe(1);
    handle.close();
    expect(h.watchers).toBe(0);
    h.publish({ kind: "key_revoked", tenantId: "t", keyId: "k" });
    expect(k.s.seen).toHaveLength(4); // nothing after close
    h.close();
  });

  it("a full sink gets nothing until resume(), then what waited, in order; a resume point in the buffer replays without a reset", () => {
    const h = hub();
    for (let i = 0; i < 3; i++) h.publish({ kind: "session_created", tenantId: "t", sessionId: `s${i}` });
    const k = sink(2);
    const handle = h.subscribe({ resumeInstanceId: h.instanceId, resumeAfterSequence: 1 }, k, same);
    expect(k.s.seen.map((e) => [e.type, e.sequence])).toEqual([
      ["invalidation", 2],
      ["invalidation", 3],
    ]);
    h.publish({ kind: "session_created", tenantId: "t", sessionId: "s3" });
    expect(k.s.seen).toHaveLength(2);
    k.s.room = Infinity;
    handle.resume();
    expect(numbered(k.s.seen)).toEqual([2, 3, 4]);
    expect(k.s.seen.at(-1)).toMatchObject({ type: "heartbeat", sequence: 4 });
    h.close();
  });

  it("a sink that stays full is evicted (RESOURCE_EXHAUSTED) once it is more than the buffer behind, and forgotten", () => {
    const h = hub({ replayBuffer: 8 });
    const k = sink(1);
    h.subscribe({ resumeInstanceId: "", resumeAfterSequence: 0 }, k, same);
    for (let i = 0; i < 20 && k.s.evicted === undefined; i++)
      h.publish({ kind: "tenant_policy_changed", tenantId: `t${i}` });
    expect(k.s.evicted).toBeInstanceOf(DomainError);
    expect(k.s.evicted!.code).toBe("resource_exhausted");
    expect(k.s.ended).toEqual([]);
    expect(h.watchers).toBe(0);
    h.close();
  });

  it("a full sink with something waiting is evicted after stallMs; one that keeps up is not", async () => {
    const h = hub({ stallMs: 100 });
    const stalled = sink(1);
    const reading = sink();
    h.subscribe({ resumeInstanceId: "", resumeAfterSequence: 0 }, stalled, same);
    h.subscribe({ resumeInstanceId: "", resumeAfterSequence: 0 }, reading, same);
    await waitUntil(() => stalled.s.evicted !== undefined, 3000, "the stalled sink evicted");
    expect(reading.s.evicted).toBeUndefined();
    expect(h.watchers).toBe(1);
    h.close();
  });

  it("the hub's close ends every pushed watcher with no error; a map that throws ends that one with the error", () => {
    const h = hub();
    const a = sink();
    const b = sink();
    h.subscribe({ resumeInstanceId: "", resumeAfterSequence: 0 }, a, same);
    const boom = new Error("map failed");
    let calls = 0;
    h.subscribe({ resumeInstanceId: "", resumeAfterSequence: 0 }, b, (ev) => {
      if (++calls > 2) throw boom;
      return ev;
    });
    h.publish({ kind: "key_created", tenantId: "t", keyId: "k" });
    expect(b.s.ended).toEqual([boom]);
    expect(h.watchers).toBe(1);
    h.close();
    expect(a.s.ended).toEqual([undefined]);
    expect(h.watchers).toBe(0);
    const late = sink();
    h.subscribe({ resumeInstanceId: "", resumeAfterSequence: 0 }, late, same);
    expect(late.s.ended).toEqual([undefined]);
    expect(late.s.seen).toEqual([]);
  });
});
