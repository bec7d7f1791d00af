import { EventEmitter } from "node:events";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createMongoChangeFeed, type WatchableDb } from "../../src/adapters/mongo/mongo-change-feed.js";
import type { StoreChange } from "../../src/ports/store-changes.js";

/**
 * Heartbeats say `complete` while the feed's state is "live". A
 * stream whose cursor has closed (the driver resuming it after a resumable error, or an end the
 * feed has not yet concluded) delivers nothing; changes made on other instances meanwhile are not
 * seen until the resume completes (up to serverSelectionTimeoutMS, 30 s by default, after the
 * close). The feed must not say "live" while its stream is closed.
 */
class FakeStream extends EventEmitter {
  closed = false;
  async close(): Promise<void> {
    this.closed = true;
  }
  establish(): void {
    this.emit("resumeTokenChanged", { _data: "token" });
  }
}

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe("complete while the change stream is closed", () => {
  it("is not live between the cursor's close and the driver's resumed cursor showing life; live again after, without a reset (nothing was lost)", async () => {
    const streams: FakeStream[] = [];
    const seen: StoreChange[] = [];
    const db: WatchableDb = {
      watch: () => {
        const s = new FakeStream();
        streams.push(s);
        return s;
      },
    };
    const feed = createMongoChangeFeed(async () => db, { backoff: { initialMs: 10 }, closeSettleMs: 30_500 });
    const stop = feed.subscribe((c) => seen.push(c));
    await vi.advanceTimersByTimeAsync(0);
    const s = streams[0]!;
    s.establish();
    expect(feed.status!().state).toBe("live");
    // A resumable error: the driver closes the old cursor (forwarded `close`) and resumes later.
    s.closed = true;
    s.emit("close");
    await vi.advanceTimersByTimeAsync(1000);
    // Nothing is delivered now: a heartbeat must not say complete.
    expect(feed.status!().state).not.toBe("live");
    // The driver's resumed cursor answered (its post-batch resume token): live again, no reset.
    s.closed = false;
    s.establish();
    expect(feed.status!().state).toBe("live");
    expect(seen.filter((c) => c.kind === "reset")).toHaveLength(1);
    expect(streams).toHaveLength(1);
    stop();
  });

  it("is not live while the stream shows no life (a getMore hung on a dead connection: no event, no close until socketTimeoutMS, 8.8 s by default), live again when it does", async () => {
    const streams: FakeStream[] = [];
    const seen: StoreChange[] = [];
    const db: WatchableDb = {
      watch: () => {
        const s = new FakeStream();
        streams.push(s);
        return s;
      },
    };
    const feed = createMongoChangeFeed(async () => db, { backoff: { initialMs: 10 }, closeSettleMs: 30_500 });
    const stop = feed.subscribe((c) => seen.push(c));
    await vi.advanceTimersByTimeAsync(0);
    const s = streams[0]!;
    s.establish();
    // A healthy idle stream: the server answers each awaitData getMore within a second (maxAwaitTimeMS
    // 1 s by default) with a post-batch resume token, which the driver emits as resumeTokenChanged.
    for (let i = 0; i < 5; i++) {
      await vi.advanceTimersByTimeAsync(1000);
      s.establish();
      expect(feed.status!().state).toBe("live");
    }
    // Then nothing for 8 s: the getMore hangs (a partition); other instances' changes are not seen.
    await vi.advanceTimersByTimeAsync(8000);
    expect(feed.status!().state).not.toBe("live");
    s.establish(); // it answers again (nothing lost: the same cursor)
    expect(feed.status!().state).toBe("live");
    expect(seen.filter((c) => c.kind === "reset")).toHaveLength(1);
    stop();
  });
});
