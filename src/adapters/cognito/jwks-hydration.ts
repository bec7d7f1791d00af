import type { Logger } from "pino";

export interface Backoff {
  initialMs: number;
  maxMs: number;
}

export const DEFAULT_HYDRATION_BACKOFF: Backoff = { initialMs: 500, maxMs: 30_000 };

/**
 * Loads each user pool's JWKS in the background until every pool has one, retrying failed pools
 * with exponential backoff (with jitter). `loaded()` is the readiness signal: true once every pool
 * is hydrated. Timers are unref'd, so a pool that never answers does not keep the process alive.
 */
export function startHydration(opts: {
  pools: readonly string[];
  hydrate: (pool: string) => Promise<void>;
  logger: Logger;
  backoff?: Backoff;
}): { loaded(): boolean; stop(): void; done: Promise<void> } {
  const { pools, hydrate, logger, backoff = DEFAULT_HYDRATION_BACKOFF } = opts;
  const pending = new Set(pools);
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let delay = backoff.initialMs;
  let markDone!: () => void;
  const done = new Promise<void>((resolve) => (markDone = resolve));

  const attempt = async () => {
    const wait = Math.round(delay * (0.8 + Math.random() * 0.4));
    await Promise.all(
      [...pending].map(async (pool) => {
        try {
          await hydrate(pool);
          pending.delete(pool);
          logger.info({ pool }, "Cognito JWKS loaded");
        } catch (err) {
          logger.warn(
            { pool, err: (err as Error).message, retry_in_ms: wait },
            "Cognito JWKS download failed: NOT_SERVING until it succeeds",
          );
        }
      }),
    );
    if (stopped) return;
    if (pending.size === 0) {
      markDone();
      return;
    }
    timer = setTimeout(() => void attempt(), wait);
    timer.unref();
    delay = Math.min(delay * 2, backoff.maxMs);
  };
  void attempt();

  return {
    loaded: () => pending.size === 0,
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
    done,
  };
}
