import type { TokenStore } from "../../src/ports/token-store.js";

/** Wraps a store and counts calls per method: "did this input reach the store?" */
export interface CountingStore {
  store: TokenStore;
  counts: Record<string, number>;
  /** Calls of the methods Introspect may make (token lookups and the tenant policy). */
  introspectReads(): number;
  total(): number;
}

const INTROSPECT_READS = ["findKeyByHash", "findSessionByHash", "getPolicy"];

export function createCountingStore(inner: TokenStore): CountingStore {
  const counts: Record<string, number> = {};
  const store = {} as Record<string, unknown>;
  for (const name of Object.keys(inner) as (keyof TokenStore)[]) {
    const fn = inner[name] as (...a: unknown[]) => Promise<unknown>;
    counts[name] = 0;
    store[name] = (...args: unknown[]) => {
      counts[name]!++;
      return fn.apply(inner, args);
    };
  }
  return {
    store: store as unknown as TokenStore,
    counts,
    introspectReads: () => INTROSPECT_READS.reduce((n, m) => n + (counts[m] ?? 0), 0),
    total: () => Object.values(counts).reduce((a, b) => a + b, 0),
  };
}
