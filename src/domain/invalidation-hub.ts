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
  | "tenant_policy_changed";

/** Ids only: never a token or a hash. */
export interface Invalidation {
  kind: InvalidationKind;
  tenantId?: string | undefined;
  keyId?: string | undefined;
  sessionId?: string | undefined;
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
   * (more than maxQueued events waiting, or none taken for stallMs), after calling `onEvicted` (the
   * transport hangs up: a stalled stream cannot take a status).
   */
  watch(
    req: WatchRequest,
    opts: { signal?: AbortSignal | undefined; onEvicted?: () => void },
  ): AsyncIterable<WatchEvent>;
  close(): void;
}

export interface InvalidationHubOptions {
  clock: Clock;
  heartbeatMs: number;
  replayBuffer: number;
  /** Does this instance currently see every change of the deployment? */
  complete: () => boolean;
  /** Events waiting for one reader before it is disconnected (default 1,024). */
  maxQueued?: number;
  /** How long a reader with events waiting may take none before it is disconnected (default 10 s). */
  stallMs?: number;
}

interface Watcher {
  queue: WatchEvent[];
  wake: (() => void) | undefined;
  evicted: DomainError | undefined;
  lastTake: number;
  onEvicted: (() => void) | undefined;
}

export function createInvalidationHub(opts: InvalidationHubOptions): InvalidationHub {
  const instanceId = randomBytes(12).toString("base64url");
  const maxQueued = opts.maxQueued ?? 1024;
  const stallMs = opts.stallMs ?? 10_000;
  const watchers = new Set<Watcher>();
  /** The numbered events still replayable: buffer[i] has sequence firstBuffered + i. */
  let buffer: WatchEvent[] = [];
  let firstBuffered = 1;
  let sequence = 0;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const deliver = (w: Watcher, ev: WatchEvent) => {
    if (w.evicted) return;
    const last = w.queue[w.queue.length - 1];
    // A heartbeat still waiting is replaced by the newer one: a behind reader holds at most one.
    if (ev.type === "heartbeat" && last?.type === "heartbeat") w.queue[w.queue.length - 1] = ev;
    else w.queue.push(ev);
    if (w.queue.length > maxQueued) return evict(w, `more than ${maxQueued} events waiting`);
    const wake = w.wake;
    w.wake = undefined;
    wake?.();
  };

  const evict = (w: Watcher, why: string) => {
    w.evicted = new DomainError("resource_exhausted", `watcher too slow (${why}): disconnected, resume to continue`);
    w.queue = [];
    watchers.delete(w);
    const wake = w.wake;
    w.wake = undefined;
    wake?.();
    w.onEvicted?.();
  };

  const number = (ev: WatchEvent) => {
    buffer.push(ev);
    if (buffer.length > opts.replayBuffer) {
      // Trim in batches (amortized O(1)); the buffer keeps at least replayBuffer events.
      const drop = buffer.length - opts.replayBuffer;
      if (drop >= Math.max(1, opts.replayBuffer >> 3) || opts.replayBuffer < 8) {
        buffer = buffer.slice(drop);
        firstBuffered += drop;
      }
    }
    for (const w of watchers) deliver(w, ev);
  };

  const heartbeat = (): WatchEvent => ({
    type: "heartbeat",
    sequence,
    serverTime: opts.clock.now(),
    complete: opts.complete(),
    intervalMs: opts.heartbeatMs,
  });

  const tick = () => {
    const ev = heartbeat(); // one event object for every watcher: the transport encodes it once
    const now = performance.now();
    for (const w of watchers) {
      if (w.queue.length > 0 && now - w.lastTake > stallMs) evict(w, `nothing read for ${stallMs} ms`);
      else deliver(w, ev);
    }
  };

  const startTimer = () => {
    if (timer || closed) return;
    timer = setInterval(tick, opts.heartbeatMs);
    timer.unref();
  };
  const stopTimerIfIdle = () => {
    if (watchers.size > 0 || !timer) return;
    clearInterval(timer);
    timer = undefined;
  };

  /** The replayable events after `after`, or undefined when the buffer no longer holds them all. */
  const replayAfter = (after: number): WatchEvent[] | undefined => {
    if (after > sequence || after < firstBuffered - 1) return undefined;
    return buffer.slice(after - firstBuffered + 1);
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
    async *watch(req, { signal, onEvicted }) {
      if (closed || signal?.aborted) return;
      const w: Watcher = { queue: [], wake: undefined, evicted: undefined, lastTake: performance.now(), onEvicted };
      // Decided and registered in one step: nothing published in between can be missed.
      const fresh = req.resumeInstanceId === "";
      const replay = !fresh && req.resumeInstanceId === instanceId ? replayAfter(req.resumeAfterSequence) : undefined;
      if (replay) w.queue.push(...replay);
      else w.queue.push({ type: "reset", sequence, reason: fresh ? "start" : "gap" });
      w.queue.push(heartbeat());
      watchers.add(w);
      startTimer();
      const onAbort = () => {
        const wake = w.wake;
        w.wake = undefined;
        wake?.();
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      try {
        for (;;) {
          w.lastTake = performance.now();
          if (signal?.aborted || closed) return;
          if (w.evicted) throw w.evicted;
          const ev = w.queue.shift();
          if (ev) {
            yield ev;
            continue;
          }
          await new Promise<void>((resolve) => (w.wake = resolve));
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
      for (const w of watchers) {
        const wake = w.wake;
        w.wake = undefined;
        wake?.();
      }
    },
  };
}
