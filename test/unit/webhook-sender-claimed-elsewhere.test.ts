import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { createMemoryTokenStore } from "../../src/adapters/memory/memory-token-store.js";
import { createMemoryWebhookStore } from "../../src/adapters/memory/memory-webhook-store.js";
import { startWebhookSender } from "../../src/app/webhook-sender.js";
import { createAuditTrail } from "../../src/domain/audit-trail.js";
import { newEndpointId, newMessageId, type WebhookEndpointRecord } from "../../src/domain/webhook-records.js";
import type { WebhookStore } from "../../src/ports/webhook-store.js";
import { createManualClock } from "../support/manual-clock.js";
import { sleep } from "../support/poll.js";

/**
 * Endpoints drain on their own (a slow one holds up no other); a drain that ends having sent
 * something looks for due messages again at once. One that sent nothing (another replica holds the
 * endpoint's claim) must wait for the poll, or the sender would ask the store again and again.
 */
describe("webhook sender: an endpoint another replica is sending", () => {
  it("is looked at once per poll, not in a loop", async () => {
    const clock = createManualClock(new Date("2030-01-01T00:00:00Z"));
    const memory = createMemoryWebhookStore();
    let dueQueries = 0;
    const webhooks: WebhookStore = {
      ...memory,
      dueEndpoints: (now, limit) => {
        dueQueries++;
        return memory.dueEndpoints(now, limit);
      },
    };
    const ep: WebhookEndpointRecord = {
      id: newEndpointId(),
      tenantId: "acme",
      url: "https://hooks.example.com/",
      events: [],
      secrets: [{ secret: "whsec_AAAA", createdAt: clock.now() }],
      createdAt: clock.now(),
      createdBy: "test",
    };
    await memory.insertEndpoint(ep, 10);
    await memory.enqueue([
      {
        id: newMessageId(),
        endpointId: ep.id,
        tenantId: "acme",
        type: "key.created",
        payload: "{}",
        createdAt: clock.now(),
        state: "pending",
        attempts: 0,
        nextAttemptAt: clock.now(),
      },
    ]);
    const now = clock.now();
    expect(
      await memory.claimEndpoint({
        endpointId: ep.id,
        holder: "other-replica",
        now,
        until: new Date(now.getTime() + 3600_000),
      }),
    ).toBe(true);
    let sends = 0;
    const sender = startWebhookSender({
      store: webhooks,
      audit: createAuditTrail({ store: createMemoryTokenStore(), clock }),
      clock,
      logger: pino({ level: "silent" }),
      deliver: async () => {
        sends++;
        return { ok: true as const, status: 200 };
      },
      config: { pollMs: 60_000, retryBaseMs: 1, retryMaxMs: 1, disableAfterMs: 1000, claimMs: 60_000 },
    });
    try {
      await sleep(300);
      expect(sends).toBe(0);
      expect(dueQueries).toBeLessThanOrEqual(2);
    } finally {
      await sender.stop();
    }
  });
});
