import { describe, expect, it } from "vitest";
import { createMemoryWebhookStore } from "../../src/adapters/memory/memory-webhook-store.js";
import type { WebhookStore } from "../../src/ports/webhook-store.js";
import { createManualClock } from "../support/manual-clock.js";
import { sleep } from "../support/poll.js";
import { pendingMessage, startTestSender, testEndpoint } from "../support/webhook-sender-fixture.js";

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
    const ep = testEndpoint(clock);
    await memory.insertEndpoint(ep, 10);
    await memory.enqueue([pendingMessage(ep, clock)]);
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
    const sender = startTestSender({ store: webhooks, clock, deliver: () => sends++ });
    try {
      await sleep(300);
      expect(sends).toBe(0);
      expect(dueQueries).toBeLessThanOrEqual(2);
    } finally {
      await sender.stop();
    }
  });
});
