import type { TokenStore } from "../ports/token-store.js";
import type { Metrics } from "../transport/metrics.js";

/** Wraps a store so every call is timed into warpflow_store_call_duration_seconds. */
export function instrumentStore(store: TokenStore, metrics: Metrics): TokenStore {
  const wrapped = {} as Record<string, unknown>;
  for (const name of Object.keys(store) as (keyof TokenStore)[]) {
    const fn = store[name] as (...args: unknown[]) => Promise<unknown>;
    const ok = metrics.storeDuration.labels(name, "ok");
    const failed = metrics.storeDuration.labels(name, "error");
    wrapped[name] = async (...args: unknown[]) => {
      const start = process.hrtime.bigint();
      try {
        const result = await fn.apply(store, args);
        ok.observe(Number(process.hrtime.bigint() - start) / 1e9);
        return result;
      } catch (err) {
        failed.observe(Number(process.hrtime.bigint() - start) / 1e9);
        throw err;
      }
    };
  }
  return wrapped as unknown as TokenStore;
}
