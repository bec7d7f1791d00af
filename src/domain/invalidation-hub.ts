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
}

/** Watchers given their heartbeat per turn of the event loop (tick). */
const TICK_CHUNK = 100;

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
  let closed = false;

  const wake = (w: Watcher) => {
    const f = w.wake;
    w.wake = undefined;
    f?.();
  };

  const evict = (w: Watcher, why: string) => {
    w.evicted = new DomainError("resource_exhausted", `watcher too slow (${why}): disconnected, resume to continue`);
    watchers.delete(w);
    stopTimerIfIdle();
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

  const heartbeat = (): WatchEvent => ({
    type: "heartbeat",
    sequence,
    serverTime: opts.clock.now(),
    complete: opts.complete(),
    intervalMs: opts.heartbeatMs,
  });

  /**
   * A heartbeat for every watcher, TICK_CHUNK watchers per turn of the event loop: waking 1,000 at
   * once wrote 1,000 messages in one turn and held calls up for it (bench `watchers`: the longest
   * loop block). A watcher reached in a later turn sends what was published meanwhile first and
   * then the heartbeat, naming what it has sent (take).
   */
  const tick = () => {
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

  const startTimer = () => {
    if (timer || closed) return;
    timer = setInterval(tick, opts.heartbeatMs);
    timer.unref();
  };
  function stopTimerIfIdle() {
    if (watchers.size > 0 || !timer) return;
    clearInterval(timer);
    timer = undefined;
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
      const after = req.resumeAfterSequence;
      const resumable =
        req.resumeInstanceId === instanceId &&
        after <= sequence &&
        after >= firstBuffered - 1 &&
        Number.isInteger(after);
      const w: Watcher = {
        next: resumable ? after + 1 : sequence + 1,
        sent: resumable ? after : sequence,
        prefix: resumable
          ? undefined
          : { type: "reset", sequence, reason: req.resumeInstanceId === "" ? "start" : "gap" },
        heartbeat: heartbeat(),
        wake: undefined,
        evicted: undefined,
        lastTake: performance.now(),
        onEvicted,
      };
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
      if (timer) clearInterval(timer);
      timer = undefined;
      for (const w of watchers) wake(w);
    },
  };
}
