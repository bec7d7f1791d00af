import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createInvalidationHub, type WatchEvent, type WatchSink } from "../../src/domain/invalidation-hub.js";

/**
 * A change of `complete` reaches watchers at once, not at the next heartbeat. A client answers
 * from its cache while the last heartbeat said complete; with the 500 ms default interval, a change
 * feed that stopped being live just after a heartbeat was announced up to 500 ms later, on top of
 * the feed's own 750 ms of silence: past the client's 1 s staleness bound.
 */
const clock = { now: () => new Date("2026-12-07T00:00:00Z") };
let complete = true;
beforeEach(() => {
  vi.useFakeTimers();
  complete = true;
});
afterEach(() => vi.useRealTimers());

function watcher(heartbeatMs: number) {
  const h = createInvalidationHub({ clock, heartbeatMs, replayBuffer: 16, complete: () => complete });
  const seen: WatchEvent[] = [];
  const sink: WatchSink<WatchEvent> = {
    send: (ev) => (seen.push(ev), true),
    evicted: () => undefined,
    end: () => undefined,
  };
  const handle = h.subscribe({ resumeInstanceId: "", resumeAfterSequence: 0 }, sink, (ev) => ev);
  const heartbeats = () => seen.filter((e): e is Extract<WatchEvent, { type: "heartbeat" }> => e.type === "heartbeat");
  return { h, handle, heartbeats };
}

describe("invalidation hub: `complete` changes go out at once", () => {
  it("a feed that stops being live just after a heartbeat is announced within 100 ms, not at the next heartbeat", async () => {
    const w = watcher(500);
    await vi.advanceTimersByTimeAsync(500); // the first interval heartbeat: complete
    expect(w.heartbeats().at(-1)!.complete).toBe(true);
    const before = w.heartbeats().length;
    await vi.advanceTimersByTimeAsync(1);
    complete = false; // the feed counts itself stalled
    await vi.advanceTimersByTimeAsync(100);
    expect(w.heartbeats().length).toBe(before + 1);
    expect(w.heartbeats().at(-1)!.complete).toBe(false);
    // Live again: announced as promptly (the client may answer from its cache again).
    complete = true;
    await vi.advanceTimersByTimeAsync(100);
    expect(w.heartbeats().at(-1)!.complete).toBe(true);
    w.h.close();
  });

  it("a watcher that joined after the last tick is told too (its first heartbeat said complete)", async () => {
    const w = watcher(500);
    await vi.advanceTimersByTimeAsync(0);
    expect(w.heartbeats().map((e) => e.complete)).toEqual([true]); // its first heartbeat, before any tick
    complete = false;
    await vi.advanceTimersByTimeAsync(100);
    expect(w.heartbeats().map((e) => e.complete)).toEqual([true, false]);
    w.h.close();
  });

  it("no extra heartbeat while nothing changes (the interval alone)", async () => {
    const w = watcher(500);
    await vi.advanceTimersByTimeAsync(2000);
    expect(w.heartbeats()).toHaveLength(1 + 4); // the first, then one per 500 ms
    w.h.close();
  });
});
