import { EventEmitter } from "node:events";
import { MongoServerError } from "mongodb";
import { Registry } from "prom-client";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createMongoChangeFeed, type WatchableDb } from "../../src/adapters/mongo/mongo-change-feed.js";
import type { StoreChange } from "../../src/ports/store-changes.js";
import { registerChangeFeedMetrics } from "../../src/observability/metrics.js";

/**
 * The change feed against a scripted stand-in for the driver's ChangeStream (no mongod here): it
 * emits what node_modules/mongodb/lib/change_stream.js emits: `resumeTokenChanged` once the
 * aggregate answered (the stream is established), `change`, `close` then `error` (a non-resumable
 * error), or only `close` (after an invalidate, or the old cursor of the driver's own resume).
 * Timers are faked: back-off and settle delays are advanced, never slept.
 */
class FakeStream extends EventEmitter {
  closed = false;
  closeCalls = 0;
  async close(): Promise<void> {
    this.closeCalls++;
    this.closed = true;
  }
  /** The aggregate answered with an empty first batch: the driver sets the post-batch resume token. */
  establish(): void {
    this.emit("resumeTokenChanged", { _data: "token" });
  }
  /**
   * What the driver does on a non-resumable getMore error (observed against the wire stub, see
   * mongo-change-feed-wire.test.ts): the cursor closes first (`close`, `closed` true), then `error`.
   */
  fail(err: Error): void {
    this.closed = true;
    this.emit("close");
    this.emit("error", err);
  }
}

const serverError = (code: number, codeName: string) =>
  new MongoServerError({ ok: 0, code, codeName, errmsg: `${codeName} (scripted)` });

function harness(opts: { dbDelay?: Promise<void>; closeSettleMs?: number } = {}) {
  const streams: FakeStream[] = [];
  const seen: StoreChange[] = [];
  const db: WatchableDb = {
    watch: () => {
      const s = new FakeStream();
      streams.push(s);
      return s;
    },
  };
  const feed = createMongoChangeFeed(
    async () => {
      await opts.dbDelay;
      return db;
    },
    { backoff: { initialMs: 10, maxMs: 10_000 }, closeSettleMs: opts.closeSettleMs ?? 100 },
  );
  const stop = feed.subscribe((c) => seen.push(c));
  return { feed, streams, seen, stop, last: () => streams[streams.length - 1]! };
}

const resets = (seen: StoreChange[]) => seen.filter((c) => c.kind === "reset").length;

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("MongoDB change feed: failures never stop it silently", () => {
  it("reopens after 136 CappedPositionLost (and 286 ChangeStreamHistoryLost), resetting the caches", async () => {
    const h = harness();
    await vi.advanceTimersByTimeAsync(0);
    h.last().establish();
    expect(h.feed.status!()).toEqual({ state: "live", reopenings: 0 });
    for (const [n, err] of [
      serverError(136, "CappedPositionLost"),
      serverError(286, "ChangeStreamHistoryLost"),
    ].entries()) {
      h.last().fail(err);
      expect(h.feed.status!().state).toBe("reopening");
      await vi.advanceTimersByTimeAsync(10);
      expect(h.streams).toHaveLength(n + 2);
      h.last().establish();
      expect(h.feed.status!()).toEqual({ state: "live", reopenings: n + 1 });
    }
    expect(resets(h.seen)).toBe(3); // the first stream, and each reopened one
    h.stop();
  });

  it("stops for good only where change streams do not exist (40573, 40324, 8000)", async () => {
    for (const code of [40573, 40324, 8000]) {
      const h = harness();
      await vi.advanceTimersByTimeAsync(0);
      h.last().fail(serverError(code, "NoChangeStreams"));
      await vi.advanceTimersByTimeAsync(60_000);
      expect(h.streams).toHaveLength(1);
      expect(h.feed.status!().state).toBe("unsupported");
      h.stop();
    }
  });

  it("reopens a stream that closed without an error (invalidate), exactly once", async () => {
    const h = harness();
    await vi.advanceTimersByTimeAsync(0);
    h.last().establish();
    // The database was dropped: the driver delivers the invalidate event, then only close/end.
    h.last().emit("change", { operationType: "invalidate", _id: { _data: "x" } });
    h.last().closed = true;
    h.last().emit("close");
    h.last().emit("end");
    await vi.advanceTimersByTimeAsync(1000);
    expect(h.streams).toHaveLength(2);
    expect(h.feed.status!().reopenings).toBe(1);
    // A bare close (no invalidate event seen) that stays closed is an end too.
    h.last().establish();
    h.last().closed = true;
    h.last().emit("close");
    await vi.advanceTimersByTimeAsync(99);
    expect(h.streams).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(20);
    expect(h.streams).toHaveLength(3);
    expect(h.feed.status!().reopenings).toBe(2);
    h.stop();
  });

  it("does not mistake the driver's own resume (old cursor closed, a new one opened) for an end", async () => {
    const h = harness();
    await vi.advanceTimersByTimeAsync(0);
    h.last().establish();
    const s = h.last();
    s.closed = true;
    s.emit("close"); // the old cursor's close, forwarded by the ChangeStream
    await vi.advanceTimersByTimeAsync(50);
    s.closed = false; // the resumed cursor is open
    s.establish(); // its aggregate answered: the driver emits resumeTokenChanged (live again, no reset)
    for (let i = 0; i < 4; i++) {
      await vi.advanceTimersByTimeAsync(250);
      s.establish(); // an idle getMore's answer (maxAwaitTimeMS 250 ms)
    }
    expect(h.streams).toHaveLength(1);
    expect(h.feed.status!()).toEqual({ state: "live", reopenings: 0 });
    expect(resets(h.seen)).toBe(1);
    h.stop();
  });

  it("resets only once the new stream is established, not when watch() returns", async () => {
    const h = harness();
    await vi.advanceTimersByTimeAsync(0);
    h.last().establish();
    h.last().fail(serverError(136, "CappedPositionLost"));
    await vi.advanceTimersByTimeAsync(10);
    expect(h.streams).toHaveLength(2);
    expect(resets(h.seen)).toBe(1); // watch() is lazy: nothing is watched yet
    expect(h.feed.status!().state).toBe("reopening");
    h.last().emit("change", { operationType: "update", ns: { coll: "keys" }, documentKey: { _id: "key_a" } });
    expect(h.seen.slice(-2)).toEqual([{ kind: "reset" }, { kind: "key", keyId: "key_a" }]);
    h.stop();
  });

  it("names an inserted key's and session's tenant and token hash", async () => {
    const h = harness();
    await vi.advanceTimersByTimeAsync(0);
    h.last().establish();
    const doc = { tenantId: "acme", tokenHash: "h-of-token" };
    h.last().emit("change", {
      operationType: "insert",
      ns: { coll: "keys" },
      documentKey: { _id: "key_a" },
      fullDocument: doc,
    });
    h.last().emit("change", {
      operationType: "insert",
      ns: { coll: "sessions" },
      documentKey: { _id: "ses_a" },
      fullDocument: doc,
    });
    expect(h.seen.slice(-2)).toEqual([
      { kind: "key_created", keyId: "key_a", tenantId: "acme", tokenHash: "h-of-token" },
      { kind: "session_created", sessionId: "ses_a", tenantId: "acme", tokenHash: "h-of-token" },
    ]);
    h.stop();
  });

  it("opens nothing when unsubscribed while the database connection was awaited", async () => {
    let connect!: () => void;
    const h = harness({ dbDelay: new Promise<void>((r) => (connect = r)) });
    h.stop();
    connect();
    await vi.advanceTimersByTimeAsync(100);
    expect(h.streams).toHaveLength(0);
    expect(h.feed.status!().state).toBe("stopped");
  });

  it("resets the back-off once a stream is established, not only when an event arrives", async () => {
    const h = harness();
    await vi.advanceTimersByTimeAsync(0);
    // Three streams that fail before being established: back-off 10, 20, 40 ms.
    for (const wait of [10, 20, 40]) {
      h.last().fail(serverError(136, "CappedPositionLost"));
      await vi.advanceTimersByTimeAsync(wait - 1);
      const before = h.streams.length;
      await vi.advanceTimersByTimeAsync(1);
      expect(h.streams).toHaveLength(before + 1);
    }
    h.last().establish(); // established, no event ever arrives
    h.last().fail(serverError(136, "CappedPositionLost"));
    await vi.advanceTimersByTimeAsync(10);
    expect(h.streams).toHaveLength(5); // reopened after 10 ms again, not 80
    h.stop();
  });

  it("publishes warpflow_change_feed_up and the reopen count", async () => {
    const h = harness();
    const registry = new Registry();
    registerChangeFeedMetrics(registry, () => h.feed.status!());
    await vi.advanceTimersByTimeAsync(0);
    expect(await registry.metrics()).toMatch(/^warpflow_change_feed_up 0$/m);
    h.last().establish();
    expect(await registry.metrics()).toMatch(/^warpflow_change_feed_up 1$/m);
    h.last().fail(serverError(136, "CappedPositionLost"));
    const text = await registry.metrics();
    expect(text).toMatch(/^warpflow_change_feed_up 0$/m);
    expect(text).toMatch(/^warpflow_change_feed_reopens_total 1$/m);
    h.stop();
  });
});

/**
 * Heartbeats say `complete` while the feed's state is "live". A stream whose cursor has closed (the
 * driver resuming it after a resumable error, or an end the feed has not yet concluded) delivers
 * nothing; changes made on other instances meanwhile are not seen until the resume completes (up to
 * serverSelectionTimeoutMS, 30 s by default, after the close). Nor does a stream that shows no life.
 */
describe("MongoDB change feed: not live while nothing can arrive", () => {
  it("is not live between the cursor's close and the driver's resumed cursor showing life; live again after, without a reset (nothing was lost)", async () => {
    const h = harness({ closeSettleMs: 30_500 });
    await vi.advanceTimersByTimeAsync(0);
    const s = h.last();
    s.establish();
    expect(h.feed.status!().state).toBe("live");
    // A resumable error: the driver closes the old cursor (forwarded `close`) and resumes later.
    s.closed = true;
    s.emit("close");
    await vi.advanceTimersByTimeAsync(1000);
    // Nothing is delivered now: a heartbeat must not say complete.
    expect(h.feed.status!().state).not.toBe("live");
    // The driver's resumed cursor answered (its post-batch resume token): live again, no reset.
    s.closed = false;
    s.establish();
    expect(h.feed.status!().state).toBe("live");
    expect(resets(h.seen)).toBe(1);
    expect(h.streams).toHaveLength(1);
    h.stop();
  });

  it("is not live while the stream shows no life (a getMore hung on a dead connection: no event, no close until socketTimeoutMS, 8.8 s by default), live again when it does", async () => {
    const h = harness({ closeSettleMs: 30_500 });
    await vi.advanceTimersByTimeAsync(0);
    const s = h.last();
    s.establish();
    // A healthy idle stream: the server answers each awaitData getMore within the feed's
    // maxAwaitTimeMS (250 ms) with a post-batch resume token, which the driver emits as
    // resumeTokenChanged; one late answer (700 ms, a slow server) is not yet a stall.
    for (const ms of [250, 250, 250, 700, 250]) {
      await vi.advanceTimersByTimeAsync(ms);
      s.establish();
      expect(h.feed.status!().state).toBe("live");
    }
    // Then nothing: the getMore hangs (a partition); other instances' changes are not seen. Not
    // live after 750 ms of silence (was 3 s): with the hub's prompt heartbeat, a client hears
    // complete=false within its 1 s bound of the first change this instance missed.
    await vi.advanceTimersByTimeAsync(749);
    expect(h.feed.status!().state).toBe("live");
    await vi.advanceTimersByTimeAsync(1);
    expect(h.feed.status!().state).toBe("stalled");
    s.establish(); // it answers again (nothing lost: the same cursor)
    expect(h.feed.status!().state).toBe("live");
    expect(resets(h.seen)).toBe(1);
    h.stop();
  });
});
