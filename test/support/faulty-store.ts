import { StoreUnavailableError } from "../../src/domain/errors.js";
import type { TokenStore } from "../../src/ports/token-store.js";

/**
 * A fault-injecting wrapper around the store port, for fault tests.
 *
 * Modes (switchable at any time, optionally only for some methods):
 * - healthy: every call goes straight to the inner store;
 * - fail:    every call (or, with `rate`, that fraction of calls at random) rejects with
 *            StoreUnavailableError and never reaches the inner store (the database is down);
 * - stall:   every call hangs and never reaches the inner store (a partition: the request is lost).
 *            heal() releases stalled calls: by default they reject (and still never reach the
 *            store); `{ stalled: "apply" }` lets them through late, as a store that was only slow;
 * - delay:   every call reaches the inner store after `ms` (a number or a function, for jitter);
 *            with `answer: "late"` the call reaches the store at once and its answer comes back
 *            `ms` later (a slow network: the store's state is read now, seen later).
 *
 * `close` is never faulted, so an app under test can always shut down.
 */
export type FaultMode =
  | { kind: "healthy" }
  | { kind: "fail"; rate?: number }
  | { kind: "stall" }
  | { kind: "delay"; ms: number | (() => number); answer?: "late" };

export type StoreMethod = Exclude<keyof TokenStore, "close">;

export interface FaultyStore {
  store: TokenStore;
  inner: TokenStore;
  /** Switch mode; `only` limits the fault to these methods (the others stay healthy). */
  setMode(mode: FaultMode, only?: readonly StoreMethod[]): void;
  /** Back to healthy; stalled calls reject (default) or go through to the inner store. */
  heal(opts?: { stalled?: "reject" | "apply" }): void;
  /** Calls that reached the inner store, by method. */
  readonly reached: Record<string, number>;
  /** Calls the wrapper failed (fail mode) or is holding (stall mode). */
  readonly failed: number;
  stalledNow(): number;
}

export function createFaultyStore(inner: TokenStore, initial: FaultMode = { kind: "healthy" }): FaultyStore {
  let mode: FaultMode = initial;
  let only: ReadonlySet<string> | undefined;
  let failed = 0;
  const reached: Record<string, number> = {};
  const stalled = new Set<{ release(apply: boolean): void }>();

  const call = (name: string, args: unknown[]): Promise<unknown> => {
    const go = () => {
      reached[name] = (reached[name] ?? 0) + 1;
      return (inner[name as keyof TokenStore] as (...a: unknown[]) => Promise<unknown>).apply(inner, args);
    };
    const m = only && !only.has(name) ? ({ kind: "healthy" } as const) : mode;
    switch (m.kind) {
      case "healthy":
        return go();
      case "fail":
        if (m.rate !== undefined && Math.random() >= m.rate) return go();
        failed++;
        return Promise.reject(new StoreUnavailableError(`injected fault: ${name} failed`));
      case "delay": {
        const ms = typeof m.ms === "function" ? m.ms() : m.ms;
        const wait = <T>(v: T) => new Promise<T>((resolve) => setTimeout(() => resolve(v), ms));
        if (m.answer === "late") {
          return go().then(wait, (err: unknown) => wait(undefined).then(() => Promise.reject(err)));
        }
        return wait(undefined).then(go);
      }
      case "stall":
        failed++;
        return new Promise((resolve, reject) => {
          const entry = {
            release(apply: boolean) {
              stalled.delete(entry);
              if (apply) go().then(resolve, reject);
              else reject(new StoreUnavailableError(`injected fault: ${name} stalled`));
            },
          };
          stalled.add(entry);
        });
    }
  };

  const store = {} as Record<string, unknown>;
  for (const name of Object.keys(inner) as (keyof TokenStore)[]) {
    store[name] = name === "close" ? () => inner.close() : (...args: unknown[]) => call(name, args);
  }

  return {
    store: store as unknown as TokenStore,
    inner,
    setMode(next, methods) {
      mode = next;
      only = methods ? new Set(methods) : undefined;
    },
    heal(opts = {}) {
      mode = { kind: "healthy" };
      only = undefined;
      for (const s of [...stalled]) s.release(opts.stalled === "apply");
    },
    reached,
    get failed() {
      return failed;
    },
    stalledNow: () => stalled.size,
  };
}
