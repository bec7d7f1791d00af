// The webhook sender's unit tests' shared parts: one endpoint record, its pending messages, and a
// sender on a memory audit trail with a scripted `deliver` (no network).
import { pino } from "pino";
import { createMemoryTokenStore } from "../../src/adapters/memory/memory-token-store.js";
import { startWebhookSender } from "../../src/app/webhook-sender.js";
import { createAuditTrail } from "../../src/domain/audit-trail.js";
import {
  newEndpointId,
  newMessageId,
  type OutboxMessage,
  type WebhookEndpointRecord,
} from "../../src/domain/webhook-records.js";
import type { Clock } from "../../src/ports/clock.js";
import type { WebhookStore } from "../../src/ports/webhook-store.js";

/** An enabled endpoint of tenant acme, created now. */
export function testEndpoint(clock: Clock): WebhookEndpointRecord {
  return {
    id: newEndpointId(),
    tenantId: "acme",
    url: "https://hooks.example.com/",
    events: [],
    secrets: [{ secret: "whsec_AAAA", createdAt: clock.now() }],
    createdAt: clock.now(),
    createdBy: "test",
  };
}

/** A pending `key.created` message for `ep`, due now (`over` replaces any field). */
export function pendingMessage(
  ep: WebhookEndpointRecord,
  clock: Clock,
  over: Partial<OutboxMessage> = {},
): OutboxMessage {
  return {
    id: newMessageId(),
    endpointId: ep.id,
    tenantId: ep.tenantId,
    type: "key.created",
    payload: "{}",
    createdAt: clock.now(),
    state: "pending",
    attempts: 0,
    nextAttemptAt: clock.now(),
    ...over,
  };
}

/** A sender on `store` whose deliveries go to `deliver` (every answer 200 unless it says otherwise). */
export function startTestSender(opts: {
  store: WebhookStore;
  clock: Clock;
  deliver: (url: string, headers: Record<string, string>, payload: string) => unknown;
  pollMs?: number;
}) {
  return startWebhookSender({
    store: opts.store,
    audit: createAuditTrail({ store: createMemoryTokenStore(), clock: opts.clock }),
    clock: opts.clock,
    logger: pino({ level: "silent" }),
    deliver: async (url, headers, payload) => {
      await opts.deliver(url, headers as Record<string, string>, payload);
      return { ok: true as const, status: 200 };
    },
    config: { pollMs: opts.pollMs ?? 60_000, retryBaseMs: 1, retryMaxMs: 1, disableAfterMs: 1000, claimMs: 60_000 },
  });
}
