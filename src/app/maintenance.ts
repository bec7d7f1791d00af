// Background duties of a running instance:
// - readiness: ping the store (with backoff until the first success, then every few seconds) and
//   report SERVING while the store answers and the JWT verifier has its keys. Once SERVING, one
//   failed ping does not flip it: only `failuresToUnready` failures in a row (checked every
//   checkIntervalMs: about 10-15 s with the defaults), so a replica-set election (~10 s), during
//   which every replica's ping would fail at once, does not make a load balancer drop every pod
//   that can still answer from its cache. The store's ping accepts any member (primaryPreferred);
// - sweep: store deprecated keys past their grace as REVOKED, each with one `key.grace_expired`
//   audit event (grace-expiry.ts), and drop expired sessions. Correctness never waits for it (reads
//   apply the clock themselves). Idempotent, so several replicas may run it.
import type { Logger } from "pino";
import { FIXED_LIMITS } from "../config/limits.js";
import type { Clock } from "../ports/clock.js";
import type { JwtVerifier } from "../ports/jwt-verifier.js";
import type { TokenStore } from "../ports/token-store.js";
import { createAuditTrail, type AuditTrail } from "../domain/audit-trail.js";
import { expireGracePeriods } from "../domain/grace-expiry.js";
import { expireKeys } from "../domain/key-expiry-sweep.js";
import type { Invalidation } from "../domain/invalidation-hub.js";

export interface Maintenance {
  /** Resolves at the first moment the instance is ready. */
  ready: Promise<void>;
  /** Checks readiness now (e.g. when `gate` changed) instead of at the next interval. */
  recheck(): void;
  stop(): void;
}

export function startMaintenance(deps: {
  store: TokenStore;
  /** Default: a trail on `store` without a log sink. */
  audit?: AuditTrail;
  clock: Clock;
  logger: Logger;
  jwt: JwtVerifier;
  server: { setServing(serving: boolean): void };
  sweepIntervalMs: number;
  /** Tells watchers (WatchInvalidations) of each key whose grace the sweep ended. */
  publish?: ((invalidation: Invalidation) => void) | undefined;
  checkIntervalMs?: number;
  /** Failed store pings in a row that turn a SERVING instance NOT_SERVING (default 3). */
  failuresToUnready?: number;
  /** A further condition of readiness (the admin bootstrap is done). */
  gate?: () => boolean;
}): Maintenance {
  const {
    store,
    clock,
    logger,
    jwt,
    server,
    sweepIntervalMs,
    checkIntervalMs = FIXED_LIMITS.readinessCheckMs,
    failuresToUnready = FIXED_LIMITS.failuresToUnready,
    gate = () => true,
  } = deps;
  const audit = deps.audit ?? createAuditTrail({ store, clock });
  let stopped = false;
  let serving: boolean | undefined;
  let backoff: number = FIXED_LIMITS.readinessRetryFirstMs;
  let failures = 0; // failed pings in a row
  let timer: NodeJS.Timeout | undefined;
  let markReady!: () => void;
  const ready = new Promise<void>((resolve) => (markReady = resolve));

  let checking = false;
  const check = async () => {
    if (checking) return;
    checking = true;
    clearTimeout(timer);
    let ok = false;
    let pinged = false;
    try {
      await store.ping();
      pinged = true;
      failures = 0;
      ok = jwt.ready() && gate();
    } catch (err) {
      failures++;
      if (serving === true && failures < failuresToUnready) {
        logger.warn(
          { err: (err as Error).message, failures, of: failuresToUnready },
          "store ping failed; still SERVING",
        );
      } else if (serving !== false)
        logger.warn({ err: (err as Error).message }, "store unreachable: NOT_SERVING until it answers");
    }
    checking = false;
    if (stopped) return;
    // SERVING survives fewer than failuresToUnready failed pings in a row (checked at the usual interval).
    if (!pinged && serving === true && failures < failuresToUnready) {
      timer = setTimeout(() => void check(), checkIntervalMs);
      timer.unref();
      return;
    }
    if (ok !== serving) {
      serving = ok;
      server.setServing(ok);
      logger.info({ serving: ok }, ok ? "ready: SERVING" : "not ready: NOT_SERVING");
    }
    if (ok) {
      backoff = FIXED_LIMITS.readinessRetryFirstMs;
      markReady();
    } else {
      backoff = Math.min(backoff * 2, FIXED_LIMITS.retryBackoffMaxMs);
    }
    timer = setTimeout(() => void check(), ok ? checkIntervalMs : backoff);
    timer.unref();
  };
  void check();

  const sweep = async () => {
    try {
      // Expiries first (issue 22): a key that expired within its grace is theirs, not the grace sweep's.
      const expired = await expireKeys({ store, audit, clock, publish: deps.publish });
      const keys = expired + (await expireGracePeriods({ store, audit, clock, publish: deps.publish }));
      const sessions = await store.deleteExpiredSessions(clock.now());
      if (keys + sessions > 0) logger.debug({ keys, sessions }, "sweep");
    } catch (err) {
      logger.warn({ err: (err as Error).message }, "sweep failed; will retry");
    }
  };
  const sweeper = setInterval(() => void sweep(), sweepIntervalMs);
  sweeper.unref();

  return {
    ready,
    recheck: () => void (stopped || check()),
    stop() {
      stopped = true;
      clearTimeout(timer);
      clearInterval(sweeper);
    },
  };
}
