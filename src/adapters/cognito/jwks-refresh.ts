import type { Logger } from "pino";

/**
 * How often each pool's JWKS is downloaded again (network mode), so that a signing key Cognito
 * withdrew stops verifying (jose's createRemoteJWKSet and jwks-rsa keep a JWKS 10 minutes too).
 * aws-jwt-verify itself downloads again only for a token whose kid it does not know: a removed key
 * stayed trusted for as long as no token signed with a new one came by.
 */
export const JWKS_REFRESH_MS = 10 * 60_000;

/**
 * Downloads every pool's JWKS again every `everyMs` once `after` has settled (the start-up
 * hydration), replacing the cached one. A failed refresh keeps the keys already held (a Cognito
 * outage does not log every user out) and is logged; the next one comes at the next tick. The
 * timer is unref'd: it does not keep the process alive.
 */
export function startJwksRefresh(opts: {
  pools: readonly string[];
  refresh: (pool: string) => Promise<void>;
  logger: Logger;
  everyMs?: number;
  after: Promise<void>;
}): { stop(): void } {
  const { pools, refresh, logger, everyMs = JWKS_REFRESH_MS } = opts;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let running = false;
  const tick = async () => {
    if (running) return; // a refresh still out (each download is bounded): skip this tick
    running = true;
    try {
      await Promise.all(
        pools.map((pool) =>
          refresh(pool).catch((err: unknown) =>
            logger.warn(
              { pool, err: (err as Error).message },
              "Cognito JWKS refresh failed: keeping the keys already loaded",
            ),
          ),
        ),
      );
    } finally {
      running = false;
    }
  };
  void opts.after.then(() => {
    if (stopped) return;
    timer = setInterval(() => void tick(), everyMs);
    timer.unref();
  });
  return {
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}
