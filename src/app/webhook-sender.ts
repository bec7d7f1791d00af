// The webhook sender: off the Introspect path (a timer and the admin calls that store events kick
// it), it delivers each endpoint's pending messages in order while it holds that endpoint's claim
// (WebhookStore.claimEndpoint: of several replicas one sends; a claim not finished lapses after
// WEBHOOK_CLAIM_MS and the messages are sent again by whoever claims next, with the same
// webhook-id). A failed attempt is retried with exponential backoff and jitter; the message at the
// head waits, so a receiver sees an endpoint's events in order. An endpoint failing without a
// success for WEBHOOK_DISABLE_AFTER_MS is disabled (one `webhook.disabled` audit event across
// replicas) and its pending messages are dropped. Endpoints drain side by side, each on its own
// (at most MAX_ENDPOINTS_PER_TICK at once): a slow receiver with a backlog delays only itself.
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { Logger } from "pino";
import type { Counter } from "prom-client";
import type { WebhookConfig } from "../config/webhook-config.js";
import type { AuditTrail } from "../domain/audit-trail.js";
import { signingSecrets, type OutboxMessage, type WebhookEndpointRecord } from "../domain/webhook-records.js";
import type { Clock } from "../ports/clock.js";
import type { WebhookStore } from "../ports/webhook-store.js";
import type { Deliver } from "../adapters/webhook/webhook-http.js";
import { signatureHeader } from "../adapters/webhook/webhook-signer.js";
import { createEndpointDisabler, type EndpointDisabler } from "./webhook-disable.js";

export interface WebhookSender {
  /** Look for due messages now (an event was stored on this instance). */
  kick(): void;
  /** Undelivered messages, as last counted. */
  backlog(): number;
  stop(): Promise<void>;
}

const BATCH = 20;
/**
 * Messages one drain sends before it gives its place back (the endpoint is due again at the next
 * look, among the others: the store answers a random choice when more are due than places). A
 * receiver answering just under the timeout with a long backlog held its place for hours.
 */
export const ROUND_MESSAGES = 100;
/** Endpoints drained at once on one instance (each holds at most one connection). */
const MAX_ENDPOINTS_PER_TICK = 100;
const BACKLOG_REFRESH_MS = 5000;

/** The delay before retry `attempt` (1 = the first retry): base * 2^(attempt-1), capped, with ±25 % jitter. */
export function retryDelayMs(
  attempt: number,
  baseMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.min(attempt - 1, 40));
  return Math.max(1, Math.round(exp * (0.75 + 0.5 * random())));
}

export function startWebhookSender(deps: {
  store: WebhookStore;
  audit: AuditTrail;
  clock: Clock;
  logger: Logger;
  deliver: Deliver;
  config: Pick<WebhookConfig, "pollMs" | "retryBaseMs" | "retryMaxMs" | "disableAfterMs" | "claimMs">;
  deliveries?: Counter<"outcome"> | undefined;
  holder?: string;
  /** How an endpoint is disabled (shared with the outbox bound); default: one of its own. */
  disabler?: EndpointDisabler | undefined;
}): WebhookSender {
  const { store, clock, logger, deliver, config } = deps;
  const holder = deps.holder ?? `${hostname()}-${process.pid}-${randomBytes(4).toString("hex")}`;
  let stopped = false;
  // Shutdown aborts an attempt in flight: its message stays pending (sent again, same webhook-id).
  const stopping = new AbortController();
  let running: Promise<void> | undefined;
  let again = false;
  let timer: NodeJS.Timeout | undefined;
  let backlog = 0;
  let backlogAt = 0;
  const count = (outcome: string) => deps.deliveries?.labels(outcome).inc();
  const disabler =
    deps.disabler ??
    createEndpointDisabler({
      store,
      audit: deps.audit,
      clock,
      logger,
      maxPendingPerEndpoint: Number.POSITIVE_INFINITY,
      onDisabled: () => count("disabled"),
    });

  const headersFor = (ep: WebhookEndpointRecord, m: OutboxMessage, now: Date) => ({
    "webhook-id": m.id,
    "webhook-timestamp": String(Math.floor(now.getTime() / 1000)),
    "webhook-signature": signatureHeader(signingSecrets(ep, now), m.id, now, m.payload),
  });

  /** Sends the endpoint's due messages in order; stops at the first that is not due or fails. */
  async function drain(endpointId: string, progress: { sent: number }): Promise<void> {
    const claim = () => {
      const now = clock.now();
      return store.claimEndpoint({ endpointId, holder, now, until: new Date(now.getTime() + config.claimMs) });
    };
    if (!(await claim())) return;
    try {
      const ep = await store.getEndpoint(endpointId);
      if (!ep) {
        // Deleted while messages were stored for it: they can go nowhere.
        for (const m of await store.pendingMessages(endpointId, 1000)) await store.markDelivered(m.id, clock.now());
        return;
      }
      // Disabled: a message stored for it after the disable (an enqueue racing it) is dropped, or
      // the endpoint would stay due for ever, taking one of the due query's places at every poll.
      if (ep.disabledAt) {
        await store.disableEndpoint(ep.id, clock.now());
        return;
      }
      for (;;) {
        const batch = await store.pendingMessages(endpointId, BATCH);
        for (const m of batch) {
          const now = clock.now();
          if (stopped || m.nextAttemptAt > now) return;
          if (!(await claim())) return; // renewed before each send; lost: another replica took over
          const outcome = await deliver(ep.url, headersFor(ep, m, now), m.payload, stopping.signal);
          if (stopped && !outcome.ok) return; // aborted by shutdown: left pending (claim released), sent again later
          if (outcome.ok) {
            await store.markDelivered(m.id, clock.now());
            if (ep.failingSince) {
              await store.recordSuccess(ep.id);
              delete ep.failingSince;
            }
            count("delivered");
            progress.sent++;
            if (progress.sent >= ROUND_MESSAGES) return; // the place goes back (see ROUND_MESSAGES)
            continue;
          }
          const failedAt = clock.now();
          count(outcome.refused ? "refused" : "failed");
          logger.info(
            { endpoint_id: ep.id, message_id: m.id, attempt: m.attempts + 1, failure: outcome.failure },
            "webhook delivery failed; will retry",
          );
          await store.recordFailure(ep.id, failedAt, outcome.failure);
          ep.failingSince ??= failedAt;
          if (failedAt.getTime() - ep.failingSince.getTime() >= config.disableAfterMs) {
            await disabler.failing(ep, outcome.failure);
            return;
          }
          const delay = retryDelayMs(m.attempts + 1, config.retryBaseMs, config.retryMaxMs);
          await store.markAttemptFailed(m.id, {
            nextAttemptAt: new Date(failedAt.getTime() + delay),
            error: outcome.failure,
          });
          return;
        }
        if (batch.length < BATCH) return;
      }
    } finally {
      await store.releaseEndpoint(endpointId, holder).catch(() => undefined);
    }
  }

  /** Endpoints draining on this instance: each on its own, so a slow one holds up no other. */
  const draining = new Map<string, Promise<void>>();

  async function tick(): Promise<void> {
    try {
      // Asked for more than there are free places: the endpoints already draining come back too.
      const due = await store.dueEndpoints(clock.now(), MAX_ENDPOINTS_PER_TICK + draining.size);
      for (const id of due) {
        if (stopped || draining.has(id) || draining.size >= MAX_ENDPOINTS_PER_TICK) continue;
        const progress = { sent: 0 };
        const round = drain(id, progress)
          .catch((err: unknown) =>
            logger.warn({ endpoint_id: id, err: (err as Error).message }, "webhook delivery round failed; will retry"),
          )
          .finally(() => {
            draining.delete(id);
            // Messages stored for it meanwhile were skipped by the ticks in between: look again now,
            // after a round that sent something (one that sent nothing, e.g. claimed by another
            // replica or failing, waits for the poll: no loop of store queries).
            if (!stopped && progress.sent > 0) setImmediate(run);
          });
        draining.set(id, round);
      }
      if (Date.now() - backlogAt >= BACKLOG_REFRESH_MS || due.length > 0) {
        backlog = await store.countPending();
        backlogAt = Date.now();
      }
    } catch (err) {
      logger.warn({ err: (err as Error).message }, "webhook sender: store unavailable; will retry");
    }
  }

  const run = () => {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    clearTimeout(timer);
    running = tick().finally(() => {
      running = undefined;
      if (stopped) return;
      if (again) {
        again = false;
        setImmediate(run);
      } else schedule();
    });
  };
  const schedule = () => {
    timer = setTimeout(run, config.pollMs);
    timer.unref();
  };
  setImmediate(run);

  return {
    kick: () => void setImmediate(run),
    backlog: () => backlog,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      stopping.abort();
      await running;
      await Promise.all(draining.values());
    },
  };
}
