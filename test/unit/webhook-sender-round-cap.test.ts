import { describe, expect, it } from "vitest";
import { createMemoryWebhookStore } from "../../src/adapters/memory/memory-webhook-store.js";
import { ROUND_MESSAGES } from "../../src/app/webhook-sender.js";
import type { WebhookStore } from "../../src/ports/webhook-store.js";
import { createManualClock } from "../support/manual-clock.js";
import { waitUntil } from "../support/poll.js";
import { pendingMessage, startTestSender, testEndpoint } from "../support/webhook-sender-fixture.js";

/**
 * One drain sends at most ROUND_MESSAGES, then gives its place back: an endpoint with a long
 * backlog (a slow receiver answering just under the timeout) no longer holds one of the sender's
 * places for the whole backlog, and the places are then handed out again by the store's random
 * choice of due endpoints (webhook-store.ts dueEndpoints). The backlog still goes out in order.
 */
describe("webhook sender: a long backlog", () => {
  it("is sent in rounds of at most ROUND_MESSAGES, each ending with the claim released, in order", async () => {
    const clock = createManualClock(new Date("2030-01-01T00:00:00Z"));
    const memory = createMemoryWebhookStore();
    let releases = 0;
    const webhooks: WebhookStore = {
      ...memory,
      releaseEndpoint: async (id, holder) => {
        releases++;
        return memory.releaseEndpoint(id, holder);
      },
    };
    const ep = testEndpoint(clock);
    await memory.insertEndpoint(ep, 10);
    const total = ROUND_MESSAGES * 2 + 10;
    await memory.enqueue(
      Array.from({ length: total }, (_, n) =>
        pendingMessage(ep, clock, {
          payload: JSON.stringify({ n }),
          createdAt: new Date(clock.now().getTime() - total + n),
        }),
      ),
    );
    const sent: number[] = [];
    const releasesAt: number[] = [];
    const sender = startTestSender({
      store: {
        ...webhooks,
        releaseEndpoint: async (id, holder) => {
          releasesAt.push(sent.length);
          return webhooks.releaseEndpoint(id, holder);
        },
      },
      clock,
      deliver: (_url, _headers, payload) => sent.push((JSON.parse(payload) as { n: number }).n),
    });
    try {
      await waitUntil(() => sent.length === total, 10_000, "the whole backlog sent");
      expect(sent).toEqual(Array.from({ length: total }, (_, n) => n));
      // Released after each round of ROUND_MESSAGES (then the last, shorter one).
      expect(releasesAt.slice(0, 3)).toEqual([ROUND_MESSAGES, ROUND_MESSAGES * 2, total]);
      expect(releases).toBeGreaterThanOrEqual(3);
    } finally {
      await sender.stop();
    }
  });
});
