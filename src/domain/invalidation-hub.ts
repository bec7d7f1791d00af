// The invalidation stream of one instance (WatchInvalidations), transport-free. Every change that
// can turn a cached Introspect answer wrong is published here (from this instance's own calls and
// from the store's change feed) and numbered 1, 2, 3, ... per instance; a fresh random instance id
// per start tells clients that numbers restarted. A bounded buffer of the latest numbered events
// lets a client resume after a reconnect; otherwise it gets a reset. docs/watch-protocol.md.
import { randomBytes } from "node:crypto";
import type { Clock } from "../ports/clock.js";
import { DomainError } from "./errors.js";

export type InvalidationKind =
  | "key_revoked"
  | "key_rotated"
  | "key_grace_ended"
  | "key_created"
  | "key_changed"
  | "session_revoked"
  | "tenant_sessions_revoked"
  | "session_created"
  | "tenant_policy_changed"
  | "key_suspended"
  | "key_resumed";

/** Ids only: never a token or a hash. */
export interface Invalidation {
  kind: InvalidationKind;
  tenantId?: string | undefined;
  keyId?: string | undefined;
  sessionId?: string | undefined;
  /** tenant_policy_changed: the tenant's HIPAA flag after the change, when this instance knows it. */
  hipaaEnabled?: boolean | undefined;
}

export type ResetReason = "start" | "gap" | "feed_restarted";

export type WatchEvent =
  | { type: "invalidation"; sequence: number; invalidation: Invalidation }
  /** start and gap: per stream, carry the latest sequence; feed_restarted: numbered, for every stream. */
  | { type: "reset"; sequence: number; reason: ResetReason }
  | { type: "heartbeat"; sequence: number; serverTime: Date; complete: boolean; intervalMs: number };

export interface WatchRequest {
  resumeInstanceId: string;
  resumeAfterSequence: number;
}

/**
 * The transport's side of a callback-driven watcher (subscribe): no generator, no promise, no
 * AbortSignal per watcher. Events are handed over as they come while `send` says there is room.
 */
export interface WatchSink<T> {
  /** One event; false when the transport's buffer is full: nothing more until the handle's resume(). */
  send(msg: T): boolean;
  /** Evicted (too slow): the transport hangs up (a stalled stream cannot take a status). */
  evicted(err: DomainError): void;
  /** The stream ends: the hub closed (err undefined: OK), or map/send threw (err). */
  end(err?: unknown): void;
}

/** A callback-driven watcher, held by the transport. */
export interface WatchHandle {
  /** The transport's buffer has room again ('drain'). */
  resume(): void;
  /** The client went away: the watcher is forgotten (no callback after this). */
  close(): void;
}

export interface InvalidationHub {
  readonly instanceId: string;
  /** Latest sequence number given out (0: none yet). */
  readonly sequence: number;
  readonly watchers: number;
  publish(invalidation: Invalidation): void;
  /** The change feed reopened: every watcher must drop everything (a numbered reset). */
  feedRestarted(): void;
  /**
   * A watcher's events: a reset or the replay, a heartbeat at once, then live events and a heartbeat
   * per interval. Ends when `signal` aborts; throws RESOURCE_EXHAUSTED when the reader falls behind
   * (more than the replay buffer behind, or nothing taken for stallMs while something waits), after
   * calling `onEvicted` (the transport hangs up: a stalled stream cannot take a status).
   */
  watch<T = WatchEvent>(
    req: WatchRequest,
    /** `map`: each event is given as map(event) (no second iterator layer per watcher). */
    opts: { signal?: AbortSignal | undefined; onEvicted?: () => void; map?: (ev: WatchEvent) => T },
  ): AsyncIterable<T>;
  /**
   * The same events as watch(), pushed into `sink` (no generator layers: bench/tools/watcher-heap.ts).
   * The first events (reset or replay, heartbeat) are sent before this returns.
   */
  subscribe<T>(req: WatchRequest, sink: WatchSink<T>, map: (ev: WatchEvent) => T): WatchHandle;
  close(): void;
}

export interface InvalidationHubOptions {
  clock: Clock;
  heartbeatMs: number;
  replayBuffer: number;
  /** Does this instance currently see every change of the deployment? */
  complete: () => boolean;
  /** How long a reader with events waiting may take none before it is disconnected (default 10 s). */
  stallMs?: number;
}

/**
 * A watcher is a cursor into the shared replay buffer (no copy of the events: a watcher costs the
 * same whether it is behind or not), plus the one reset that starts its stream and the latest
 * heartbeat not yet sent. A reader that falls more than the buffer behind, or takes nothing for
 * stallMs while something waits, is evicted.
 */
interface Watcher {
  /** The next numbered event to send. */
  next: number;
  /** The latest sequence this watcher has sent (heartbeats carry it). */
  sent: number;
  prefix: WatchEvent | undefined;
  heartbeat: WatchEvent | undefined;
  wake: (() => void) | undefined;
  evicted: DomainError | undefined;
  lastTake: number;
  onEvicted: (() => void) | undefined;
  /** A callback-driven watcher (subscribe): its sink, instead of a parked generator's `wake`. */
  sink: WatchSink<unknown> | undefined;
}

/** Watchers given their heartbeat per turn of the event loop (tick). */
const TICK_CHUNK = 100;
/** How often the hub looks whether `complete` changed since the last heartbeat (probe). */
const PROBE_MS = 100;

export function createInvalidationHub(opts: InvalidationHubOptions): InvalidationHub {
  const instanceId = randomBytes(12).toString("base64url");
  const stallMs = opts.stallMs ?? 10_000;
  const cap = Math.max(1, opts.replayBuffer);
  const watchers = new Set<Watcher>();
  /** The numbered events still replayable: buffer[i] has sequence firstBuffered + i. */
  let buffer: WatchEvent[] = [];
  let firstBuffered = 1;
  let sequence = 0;
  let timer: NodeJS.Timeout | undefined;
  let probeTimer: NodeJS.Timeout | undefined;
  let closed = false;

  const wake = (w: Watcher) => {
    if (w.sink !== undefined) return (w as Pushed).push();
    const f = w.wake;
    w.wake = undefined;
    f?.();
  };

  const evict = (w: Watcher, why: string) => {
    w.evicted = new DomainError("resource_exhausted", `watcher too slow (${why}): disconnected, resume to continue`);
    watchers.delete(w);
    stopTimerIfIdle();
    if (w.sink !== undefined) return w.sink.evicted(w.evicted);
    wake(w);
    w.onEvicted?.();
  };

  const number = (ev: WatchEvent) => {
    buffer.push(ev);
    // Trimmed in batches (amortized O(1)); at least `cap` events stay replayable.
    if (buffer.length > cap + Math.max(1, cap >> 3)) {
      const drop = buffer.length - cap;
      buffer = buffer.slice(drop);
      firstBuffered += drop;
      for (const w of watchers) if (w.next < firstBuffered) evict(w, `more than ${cap} events behind`);
    }
    for (const w of watchers) wake(w);
  };

  /** What heartbeats said of `complete` since the last tick (the tick's, a new watcher's first): see probe. */
  const said = { complete: false, incomplete: false };
  const heartbeat = (): WatchEvent => {
    const complete = opts.complete();
    if (complete) said.complete = true;
    else said.incomplete = true;
    return { type: "heartbeat", sequence, serverTime: opts.clock.now(), complete, intervalMs: opts.heartbeatMs };
  };

  /**
   * A heartbeat for every watcher, TICK_CHUNK watchers per turn of the event loop: waking 1,000 at
   * once wrote 1,000 messages in one turn and held calls up for it (bench `watchers`: the longest
   * loop block). A watcher reached in a later turn sends what was published meanwhile first and
   * then the heartbeat, naming what it has sent (take).
   */
  const tick = () => {
    said.complete = said.incomplete = false;
    const ev = heartbeat(); // one event object for every watcher: the transport encodes it once
    const now = performance.now();
    const all = [...watchers];
    let i = 0;
    const step = () => {
      for (const end = Math.min(all.length, i + TICK_CHUNK); i < end; i++) {
        const w = all[i]!;
        if (!watchers.has(w)) continue; // ended or evicted since the tick
        const waiting = w.prefix !== undefined || w.next <= sequence || w.heartbeat !== undefined;
        if (waiting && now - w.lastTake > stallMs) evict(w, `nothing read for ${stallMs} ms`);
        else {
          w.heartbeat = ev;
          wake(w);
        }
      }
      if (i < all.length && !closed) setImmediate(step);
    };
    step();
  };

  /**
   * A change of `complete` goes out at once, not at the next heartbeat: a client answers from its
   * cache while the last heartbeat said complete, so a feed that stops being live between two
   * heartbeats would otherwise be announced up to heartbeatMs late (the client's staleness bound
   * is 1 s by default; the feed counts itself stalled after 750 ms of silence). Checked every
   * PROBE_MS (a function call); the interval heartbeats go on as before.
   */
  const probe = () => {
    if (opts.complete() ? said.incomplete : said.complete) tick();
  };
  const startTimer = () => {
    if (timer || closed) return;
    timer = setInterval(tick, opts.heartbeatMs);
    timer.unref();
    if (opts.heartbeatMs > PROBE_MS) {
      probeTimer = setInterval(probe, PROBE_MS);
      probeTimer.unref();
    }
  };
  function stopTimerIfIdle() {
    if (watchers.size > 0 || !timer) return;
    clearInterval(timer);
    clearInterval(probeTimer);
    timer = undefined;
    probeTimer = undefined;
  }

  /** The next event for `w`, or undefined when it has sent everything. */
  const take = (w: Watcher): WatchEvent | undefined => {
    if (w.prefix) {
      const ev = w.prefix;
      w.prefix = undefined;
      return ev;
    }
    if (w.next <= sequence) {
      const ev = buffer[w.next - firstBuffered]!;
      w.next++;
      w.sent = ev.sequence;
      return ev;
    }
    let hb = w.heartbeat;
    w.heartbeat = undefined;
    // Behind at the tick, caught up since: the heartbeat names what this stream has sent.
    if (hb && hb.sequence !== w.sent) hb = { ...hb, sequence: w.sent };
    return hb;
  };

  /** Where a new watcher starts: after its resume point if the buffer still holds it, else a reset. */
  const startOf = (req: WatchRequest) => {
    const after = req.resumeAfterSequence;
    const resumable =
      req.resumeInstanceId === instanceId && after <= sequence && after >= firstBuffered - 1 && Number.isInteger(after);
    return {
      next: resumable ? after + 1 : sequence + 1,
      sent: resumable ? after : sequence,
      prefix: resumable
        ? undefined
        : ({ type: "reset", sequence, reason: req.resumeInstanceId === "" ? "start" : "gap" } as WatchEvent),
      heartbeat: heartbeat() as WatchEvent | undefined,
      lastTake: performance.now(),
    };
  };

  /**
   * A callback-driven watcher: the watcher and its handle are one object (methods on the class,
   * no closure per watcher). push() hands over what is waiting while the sink takes it.
   */
  class Pushed implements Watcher, WatchHandle {
    next: number;
    sent: number;
    prefix: WatchEvent | undefined;
    heartbeat: WatchEvent | undefined;
    wake: undefined = undefined;
    evicted: DomainError | undefined = undefined;
    lastTake: number;
    onEvicted: undefined = undefined;
    /** The sink said it is full: nothing more until resume(). */
    blocked = false;
    pushing = false;

    constructor(
      req: WatchRequest,
      readonly sink: WatchSink<unknown>,
      readonly map: (ev: WatchEvent) => unknown,
    ) {
      const s = startOf(req);
      this.next = s.next;
      this.sent = s.sent;
      this.prefix = s.prefix;
      this.heartbeat = s.heartbeat;
      this.lastTake = s.lastTake;
    }

    push(): void {
      if (this.blocked || this.pushing) return;
      this.pushing = true;
      try {
        let ev: WatchEvent | undefined;
        while (!this.blocked && watchers.has(this) && (ev = take(this)) !== undefined) {
          this.lastTake = performance.now();
          if (!this.sink.send(this.map(ev))) this.blocked = true;
        }
      } catch (err) {
        if (watchers.delete(this)) {
          stopTimerIfIdle();
          this.sink.end(err);
        }
      } finally {
        this.pushing = false;
      }
    }

    resume(): void {
      this.blocked = false;
      this.lastTake = performance.now();
      this.push();
    }

    close(): void {
      if (watchers.delete(this)) stopTimerIfIdle();
    }
  }

  return {
    instanceId,
    get sequence() {
      return sequence;
    },
    get watchers() {
      return watchers.size;
    },
    publish(invalidation) {
      if (closed) return;
      number({ type: "invalidation", sequence: ++sequence, invalidation });
    },
    feedRestarted() {
      if (closed) return;
      number({ type: "reset", sequence: ++sequence, reason: "feed_restarted" });
    },
    async *watch<T>(
      req: WatchRequest,
      {
        signal,
        onEvicted,
        map,
      }: { signal?: AbortSignal | undefined; onEvicted?: () => void; map?: (ev: WatchEvent) => T },
    ): AsyncGenerator<T> {
      if (closed || signal?.aborted) return;
      // Decided and registered in one step: nothing published in between can be missed.
      const w: Watcher = { ...startOf(req), wake: undefined, evicted: undefined, onEvicted, sink: undefined };
      watchers.add(w);
      startTimer();
      const onAbort = () => wake(w);
      signal?.addEventListener("abort", onAbort, { once: true });
      try {
        for (;;) {
          w.lastTake = performance.now();
          if (signal?.aborted || closed) return;
          if (w.evicted) throw w.evicted;
          const ev = take(w);
          if (ev) yield map ? map(ev) : (ev as T);
          else await new Promise<void>((resolve) => (w.wake = resolve));
        }
      } finally {
        signal?.removeEventListener("abort", onAbort);
        watchers.delete(w);
        stopTimerIfIdle();
      }
    },
    close() {
      closed = true;
      clearInterval(timer);
      clearInterval(probeTimer);
      timer = probeTimer = undefined;
      for (const w of watchers) {
        if (w.sink === undefined) wake(w);
        else {
          watchers.delete(w);
          w.sink.end();
        }
      }
    },
    subscribe<T>(req: WatchRequest, sink: WatchSink<T>, map: (ev: WatchEvent) => T): WatchHandle {
      const w = new Pushed(req, sink as WatchSink<unknown>, map);
      if (closed) sink.end();
      else {
        watchers.add(w);
        startTimer();
        w.push();
      }
      return w;
    },
  };
}
