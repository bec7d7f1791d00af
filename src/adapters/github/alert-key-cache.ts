// The secret-scanning keys as the alert endpoint sees them: loaded once (file or URL), kept for
// `maxAgeMs`, and loaded again when an alert names a key identifier the list lacks, at most once
// per `refetchIntervalMs` (the JWKS lesson, jwks-download-limiter.ts: an unknown-identifier flood
// costs one download per interval, not one per request). Concurrent askers join the load in flight.
// A load that fails keeps the keys already had.
import type { KeyObject } from "node:crypto";
import { DomainError } from "../../domain/errors.js";
import type { AlertKeySource } from "../../ports/alert-keys.js";
import type { Clock } from "../../ports/clock.js";

export const KEY_LIST_REFETCH_INTERVAL_MS = 10_000;
export const KEY_LIST_MAX_AGE_MS = 60 * 60 * 1000;

export interface AlertKeyCache extends AlertKeySource {
  /** Loads now (at start), unless a load is in flight; never rejects. */
  refresh(): Promise<void>;
  /** Loads done so far (tests, logs). */
  loads(): number;
}

export function createAlertKeyCache(deps: {
  load: () => Promise<Map<string, KeyObject>>;
  clock: Clock;
  refetchIntervalMs?: number;
  maxAgeMs?: number;
  onLoad?: ((outcome: { ok: true; keys: number } | { ok: false; error: Error }) => void) | undefined;
}): AlertKeyCache {
  const { load, clock, refetchIntervalMs = KEY_LIST_REFETCH_INTERVAL_MS, maxAgeMs = KEY_LIST_MAX_AGE_MS } = deps;
  let keys: Map<string, KeyObject> | undefined;
  let loadedAt = Number.NEGATIVE_INFINITY;
  let lastAttempt = Number.NEGATIVE_INFINITY;
  let inflight: Promise<void> | undefined;
  let count = 0;
  const now = () => clock.now().getTime();

  function refresh(): Promise<void> {
    inflight ??= (async () => {
      lastAttempt = now();
      count++;
      try {
        keys = await load();
        loadedAt = now();
        deps.onLoad?.({ ok: true, keys: keys.size });
      } catch (err) {
        deps.onLoad?.({ ok: false, error: err as Error });
      } finally {
        inflight = undefined;
      }
    })();
    return inflight;
  }

  return {
    refresh,
    loads: () => count,
    async key(identifier) {
      const fresh = now() - loadedAt < maxAgeMs;
      if (fresh && keys?.has(identifier)) return keys.get(identifier);
      if (inflight) await inflight;
      else if (now() - lastAttempt >= refetchIntervalMs) await refresh();
      if (!keys) throw new DomainError("unavailable", "the secret-scanning key list is not available yet; retry later");
      return keys.get(identifier);
    },
  };
}
