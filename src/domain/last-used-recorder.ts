// Coalesces last_used_at writes: at most one store write per distinct key per flush interval,
// however many calls. A failed flush keeps its uses for the next one (no lost audit data), and
// close() flushes what is pending.
import type { KeyUse, TokenStore } from "../ports/token-store.js";

export interface LastUsedRecorder {
  record(keyId: string, at: Date): void;
  /**
   * Pending use of a key not yet written, the flush in flight included (so ListKeys on this
   * instance is never behind).
   */
  pending(keyId: string): Date | undefined;
  /**
   * pending() as of now, for a view of records read from the store after this call: a use recorded
   * before it is either in the snapshot or already written (so the read sees it), even when a
   * flush's write lands between the read and the lookup (pending() then no longer has it).
   */
  snapshot(): (keyId: string) => Date | undefined;
  flush(): Promise<number>;
  close(): Promise<void>;
}

export interface LastUsedRecorderOptions {
  flushIntervalMs: number;
  /** Flush early once this many distinct keys are pending. */
  maxPending: number;
  onFlush?: (result: { keys: number; ok: boolean; error?: unknown }) => void;
}

export function createLastUsedRecorder(
  store: Pick<TokenStore, "recordKeyUses">,
  options: Partial<LastUsedRecorderOptions> = {},
): LastUsedRecorder {
  const { flushIntervalMs = 1000, maxPending = 100_000, onFlush } = options;
  let pending = new Map<string, Date>();
  /** The batch whose write is in flight (at most one): its uses are still pending to readers. */
  let writing: Map<string, Date> | undefined;
  let inFlight: Promise<number> | undefined;
  /** A flush waiting for the one in flight; later requests join it (at most one waits). */
  let queued: Promise<number> | undefined;
  const timer = setInterval(() => void flush(), flushIntervalMs);
  timer.unref();

  const note = (keyId: string, at: Date) => {
    const cur = pending.get(keyId);
    if (!cur || cur < at) pending.set(keyId, at);
  };

  async function flushOnce(): Promise<number> {
    if (pending.size === 0) return 0;
    const batch = pending;
    pending = new Map();
    writing = batch;
    const uses: KeyUse[] = [];
    for (const [keyId, at] of batch) uses.push({ keyId, at });
    try {
      await store.recordKeyUses(uses);
      onFlush?.({ keys: uses.length, ok: true });
      return uses.length;
    } catch (error) {
      for (const u of uses) note(u.keyId, u.at); // keep them for the next flush
      onFlush?.({ keys: uses.length, ok: false, error });
      throw error;
    } finally {
      if (writing === batch) writing = undefined;
    }
  }

  /** The later of a key's use in `waiting` and in `inFlight`. */
  const latest = (waiting: Map<string, Date>, inFlight: Map<string, Date> | undefined, keyId: string) => {
    const a = waiting.get(keyId);
    const b = inFlight?.get(keyId);
    return a === undefined || (b !== undefined && b > a) ? b : a;
  };

  function flush(): Promise<number> {
    // One flush at a time; a flush requested during another runs after it, and every request made
    // meanwhile joins that one queued flush (a slow store cannot pile up flushes). A failed flush
    // never rejects a promise nobody awaits (the timer's flush is fire-and-forget: an unhandled
    // rejection would crash the process): its uses were merged back and onFlush reported it.
    if (queued) return queued;
    const before = inFlight;
    const settled = (before ?? Promise.resolve(0))
      .then(() => {
        if (queued === settled) queued = undefined;
        return flushOnce();
      })
      .catch(() => 0);
    if (before) queued = settled;
    const tracked: Promise<number> = settled.finally(() => {
      if (inFlight === tracked) inFlight = undefined;
    });
    inFlight = tracked;
    return settled;
  }

  return {
    record(keyId, at) {
      note(keyId, at);
      if (pending.size >= maxPending) void flush();
    },
    pending: (keyId) => latest(pending, writing, keyId),
    snapshot() {
      // The maps themselves: a flush replaces `pending` (never empties it) and never changes a batch.
      const waiting = pending;
      const inFlight = writing;
      return (keyId) => latest(waiting, inFlight, keyId);
    },
    flush,
    async close() {
      clearInterval(timer);
      await flush();
    },
  };
}
