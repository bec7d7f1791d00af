// Scheduled webhook events: `key.grace_ending` (a rotated key's grace ends within 24 h) and
// `key.expiring` (a key's expiry, issue 22, lies within 7 days). Run every sweep interval by
// whichever replica holds the "webhook-schedule" lease; each event's messages have ids derived from
// (type, key, the instant it announces, endpoint), so a replica taking over mid-run, or a second
// run, stores nothing twice: each endpoint hears each announcement exactly once.
import type { Logger } from "pino";
import type { KeyRecord } from "../domain/records.js";
import type { EnqueueEvent } from "../domain/webhook-outbox.js";
import type { Clock } from "../ports/clock.js";
import type { TokenStore } from "../ports/token-store.js";
import type { WebhookStore } from "../ports/webhook-store.js";

export const GRACE_ENDING_WITHIN_MS = 24 * 3600_000;
export const EXPIRING_WITHIN_MS = 7 * 24 * 3600_000;
const BATCH = 500;
export const SCHEDULE_LEASE = "webhook-schedule";

/** One scheduling run (the caller holds the lease). Answers how many messages were new. */
export async function scheduleWebhookEvents(deps: {
  store: Pick<TokenStore, "findExpiredKeys">;
  webhooks: Pick<WebhookStore, "findKeysExpiringBetween">;
  enqueue: EnqueueEvent;
  now: Date;
}): Promise<number> {
  const { now, enqueue } = deps;
  let added = 0;
  // Deprecated keys whose revokeAt <= now + 24 h, those still in their grace (revokeAt > now).
  const ending = (await deps.store.findExpiredKeys(new Date(now.getTime() + GRACE_ENDING_WITHIN_MS), BATCH)).filter(
    (k) => k.revokeAt !== undefined && k.revokeAt > now,
  );
  for (const k of ending) {
    added += await enqueue({
      type: "key.grace_ending",
      tenantId: k.tenantId,
      timestamp: now,
      data: {
        tenant_id: k.tenantId,
        key_id: k.id,
        grace_ends_at: k.revokeAt!.toISOString(),
        ...(k.rotatedToKeyId ? { successor_key_id: k.rotatedToKeyId } : {}),
      },
      dedupeKey: `key.grace_ending:${k.id}:${k.revokeAt!.toISOString()}`,
    });
  }
  const expiring = await deps.webhooks.findKeysExpiringBetween(
    now,
    new Date(now.getTime() + EXPIRING_WITHIN_MS),
    BATCH,
  );
  for (const k of expiring) {
    const expiresAt = (k as KeyRecord & { expiresAt?: Date }).expiresAt!;
    added += await enqueue({
      type: "key.expiring",
      tenantId: k.tenantId,
      timestamp: now,
      data: { tenant_id: k.tenantId, key_id: k.id, expires_at: expiresAt.toISOString() },
      dedupeKey: `key.expiring:${k.id}:${expiresAt.toISOString()}`,
    });
  }
  return added;
}

/** Runs the schedule every `intervalMs` under the lease; stop() ends it. */
export function startWebhookSchedule(deps: {
  store: TokenStore;
  webhooks: WebhookStore;
  enqueue: EnqueueEvent;
  clock: Clock;
  logger: Logger;
  intervalMs: number;
  holder: string;
}): { stop(): void; runNow(): Promise<void> } {
  const { store, clock, logger, intervalMs, holder } = deps;
  const runNow = async () => {
    try {
      const now = clock.now();
      const until = new Date(now.getTime() + Math.max(intervalMs * 2, 60_000));
      if (!(await store.claimLease({ name: SCHEDULE_LEASE, holder, now, until }))) return;
      const added = await scheduleWebhookEvents({ store, webhooks: deps.webhooks, enqueue: deps.enqueue, now });
      if (added > 0) logger.debug({ added }, "scheduled webhook events stored");
    } catch (err) {
      logger.warn({ err: (err as Error).message }, "webhook schedule failed; will retry");
    }
  };
  const timer = setInterval(() => void runNow(), intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer), runNow };
}
