import { describe, expect, it } from "vitest";
import { createMemoryWebhookStore } from "../../src/adapters/memory/memory-webhook-store.js";
import { createManualClock } from "../support/manual-clock.js";
import { pollUntil } from "../support/poll.js";
import { pendingMessage, startTestSender, testEndpoint } from "../support/webhook-sender-fixture.js";

/**
 * Issue 24 review: an endpoint disabled (failing too long, or at WEBHOOK_MAX_PENDING_PER_ENDPOINT)
 * while an event for it was being stored: the enqueue listed the endpoint before the disable and
 * stored its message after the disable dropped the pending ones. That message stayed pending for
 * ever: the sender's due query kept answering the endpoint (one of its `limit` places per poll) and
 * the drain returned at once for a disabled endpoint. Now the drain drops it as the disable did.
 */
describe("a message stored for an endpoint after it was disabled", () => {
  it("is dropped by the sender, and the endpoint is no longer due", async () => {
    const clock = createManualClock(new Date("2030-01-01T00:00:00Z"));
    const webhooks = createMemoryWebhookStore();
    const ep = testEndpoint(clock);
    await webhooks.insertEndpoint(ep, 10);
    expect(await webhooks.disableEndpoint(ep.id, clock.now())).toBe(true);
    // The racing enqueue lands after the disable.
    await webhooks.enqueue([pendingMessage(ep, clock)]);
    expect(await webhooks.dueEndpoints(clock.now(), 10)).toEqual([ep.id]);
    const sent: string[] = [];
    const sender = startTestSender({ store: webhooks, clock, deliver: (url) => sent.push(url), pollMs: 10 });
    try {
      sender.kick();
      expect(await pollUntil(async () => (await webhooks.countPending(ep.id)) === 0, 3000)).toBe(true);
      expect(await webhooks.dueEndpoints(clock.now(), 10)).toEqual([]);
      expect(sent).toEqual([]); // never delivered to a disabled endpoint
    } finally {
      await sender.stop();
    }
  });
});
