import type { TokenStore } from "../ports/token-store.js";
import type { Metrics } from "../observability/metrics.js";
import { wrapStore } from "./wrap-store.js";

/** Wraps a store so every call is timed into warpflow_store_call_duration_seconds. */
export function instrumentStore(store: TokenStore, metrics: Metrics): TokenStore {
  return wrapStore(store, (name, call) => {
    const ok = metrics.storeDuration.labels(name, "ok");
    const failed = metrics.storeDuration.labels(name, "error");
    return async (...args) => {
      const start = process.hrtime.bigint();
      try {
        const result = await call(...args);
        ok.observe(Number(process.hrtime.bigint() - start) / 1e9);
        return result;
      } catch (err) {
        failed.observe(Number(process.hrtime.bigint() - start) / 1e9);
        throw err;
      }
    };
  });
}
