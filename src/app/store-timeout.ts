import { StoreUnavailableError } from "../domain/errors.js";
import type { TokenStore } from "../ports/token-store.js";
import { wrapStore } from "./wrap-store.js";

/**
 * Bounds every store call: a store that does not answer within `timeoutMs` is treated as
 * unavailable (StoreUnavailableError, which the transport maps to UNAVAILABLE), so a stalled
 * database can never hang Introspect, an admin RPC, the readiness check or shutdown.
 *
 * A write that times out here may still be applied later by the store (the request reached it but
 * the answer did not come back in time). The caller was told UNAVAILABLE and never received the
 * plaintext; the key service revokes such a key in the background (key-service.ts, unacknowledged).
 *
 * `close` is passed through unbounded (shutdown closes the raw store itself). The background
 * calls (MAINTENANCE_CALLS: the sweep and the last_used_at flush, which touch many documents and
 * no caller waits on) get their own, longer budget `maintenanceMs`; the MongoDB adapter derives
 * its server-side limits from both (mongo-timeouts.ts), so the store answers before either fires.
 */
export function withStoreTimeout(
  store: TokenStore,
  timeoutMs: number,
  maintenanceMs: number = maintenanceTimeoutMs(timeoutMs),
): TokenStore {
  if (!(timeoutMs > 0) || !Number.isFinite(timeoutMs)) return store;
  return wrapStore(store, (name, call) => {
    const limit = MAINTENANCE_CALLS.has(name) ? maintenanceMs : timeoutMs;
    return name === "close"
      ? call
      : (...args) =>
          new Promise((resolve, reject) => {
            let pending: Promise<unknown>;
            try {
              pending = Promise.resolve(call(...args));
            } catch (err) {
              reject(err);
              return;
            }
            const timer = setTimeout(
              () => reject(new StoreUnavailableError(`token store did not answer ${name} within ${limit} ms`)),
              limit,
            );
            // A late answer (or late failure) after the deadline is ignored: the promise already settled.
            pending.then(
              (value) => {
                clearTimeout(timer);
                resolve(value);
              },
              (err: unknown) => {
                clearTimeout(timer);
                reject(err);
              },
            );
          });
  });
}

/** Store calls made only by background duties (maintenance.ts, the last_used_at recorder). */
export const MAINTENANCE_CALLS: ReadonlySet<string> = new Set([
  "deleteExpiredSessions",
  "findExpiredKeys",
  "findKeysPastExpiry",
  "recordKeyUses",
]);

/** The budget of a background store call: five times STORE_TIMEOUT_MS (10 s by default). */
export const maintenanceTimeoutMs = (storeTimeoutMs: number): number => storeTimeoutMs * 5;
