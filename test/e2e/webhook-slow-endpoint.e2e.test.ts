import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { waitUntil } from "../support/poll.js";
import { startTestApp } from "../support/test-app.js";
import { startWebhookReceiver } from "../support/webhook-receiver.js";

/**
 * A tenant's endpoint that answers 2xx, slowly, for a long backlog must not hold up other tenants'
 * deliveries: each endpoint drains on its own, not in one round every endpoint waits for.
 */
const opened: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const o of opened.splice(0).reverse()) await o.close();
});

describe("webhooks: a slow endpoint with a backlog", () => {
  it("does not delay another tenant's delivery behind its own (was: behind the whole backlog)", async () => {
    const t = await startTestApp({
      env: {
        WEBHOOK_ALLOW_HTTP: "true",
        WEBHOOK_ALLOWED_CIDRS: "127.0.0.1/32",
        WEBHOOK_POLL_MS: "50",
        WEBHOOK_RETRY_BASE_MS: "50",
        WEBHOOK_RETRY_MAX_MS: "200",
        WEBHOOK_TIMEOUT_MS: "2000",
        WEBHOOK_CLAIM_MS: "5000",
      },
    });
    opened.push(t);
    // Answers 204 after 400 ms: inside the timeout, so every attempt succeeds, slowly.
    let slowRequests = 0;
    const slow = createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        slowRequests++;
        setTimeout(() => res.writeHead(204).end(), 400);
      });
    });
    await new Promise<void>((r) => slow.listen(0, "127.0.0.1", r));
    opened.push({
      close: () =>
        new Promise<void>((r) => {
          slow.closeAllConnections();
          slow.close(() => r());
        }),
    });
    const slowUrl = `http://127.0.0.1:${(slow.address() as AddressInfo).port}/hook`;
    const good = await startWebhookReceiver();
    opened.push(good);
    const admin = { bearer: t.adminKey };
    await t.grpc.createWebhookEndpoint({ tenantId: "slow", url: slowUrl, events: [] }, admin);
    good.secrets.push(
      (await t.grpc.createWebhookEndpoint({ tenantId: "acme", url: good.url, events: [] }, admin)).secret,
    );
    // 30 events for the slow tenant: policy changes (no key limit), each one message.
    for (let i = 0; i < 30; i++) await t.grpc.setTenantPolicy({ tenantId: "slow", hipaaEnabled: i % 2 === 0 }, admin);
    await waitUntil(() => slowRequests >= 3, 5000, "the slow endpoint's backlog being sent");
    const started = Date.now();
    await t.grpc.createKey({ tenantId: "acme", label: "crm" }, admin);
    await waitUntil(() => good.delivered().length >= 1, 10_000, "acme's delivery");
    const waited = Date.now() - started;
    expect(good.delivered()[0]!.event!.type).toBe("key.created");
    // One poll and one send, not the slow tenant's attempts first.
    expect(waited).toBeLessThan(3000); // the slow backlog alone takes 12 s
  });
});
