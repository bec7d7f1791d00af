import { createServer, type AddressInfo, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { waitUntil } from "../support/poll.js";
import { startTestApp } from "../support/test-app.js";
import { startWebhookReceiver } from "../support/webhook-receiver.js";

/**
 * One tenant's endpoint answering every delivery with 101 Switching Protocols (any HTTP server can)
 * must cost that endpoint a failed attempt, not the sender: every other tenant keeps getting its events.
 */
const opened: { close(): Promise<void> | void }[] = [];
afterEach(async () => {
  for (const o of opened.splice(0).reverse()) await o.close();
});

describe("webhooks: an endpoint that answers 101 Switching Protocols", () => {
  it("fails its own attempts while another tenant's endpoint still gets its events (was: the sender stopped for every tenant)", async () => {
    const sockets = new Set<Socket>();
    let upgradeAnswers = 0;
    const switching = createServer((s) => {
      sockets.add(s);
      s.on("error", () => undefined);
      s.once("data", () => {
        upgradeAnswers++;
        s.write("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
      });
    });
    await new Promise<void>((r) => switching.listen(0, "127.0.0.1", r));
    opened.push({
      close: () =>
        new Promise<void>((r) => {
          for (const s of sockets) s.destroy();
          switching.close(() => r());
        }),
    });
    const t = await startTestApp({
      env: {
        WEBHOOK_ALLOW_HTTP: "true",
        WEBHOOK_ALLOWED_CIDRS: "127.0.0.1/32",
        WEBHOOK_POLL_MS: "50",
        WEBHOOK_RETRY_BASE_MS: "50",
        WEBHOOK_RETRY_MAX_MS: "200",
        WEBHOOK_TIMEOUT_MS: "1000",
        WEBHOOK_CLAIM_MS: "3000",
      },
    });
    opened.push(t);
    const good = await startWebhookReceiver();
    opened.push(good);
    const admin = { bearer: t.adminKey };
    const port = (switching.address() as AddressInfo).port;
    await t.grpc.createWebhookEndpoint({ tenantId: "evil", url: `http://127.0.0.1:${port}/hook`, events: [] }, admin);
    good.secrets.push(
      (await t.grpc.createWebhookEndpoint({ tenantId: "acme", url: good.url, events: [] }, admin)).secret,
    );

    await t.grpc.createKey({ tenantId: "evil", label: "first" }, admin);
    await waitUntil(() => upgradeAnswers >= 1, 5000, "the 101 endpoint asked");
    await t.grpc.createKey({ tenantId: "acme", label: "crm" }, admin);
    await waitUntil(() => good.delivered().length >= 1, 8000, "acme's delivery despite the 101 endpoint");
    expect(good.delivered()[0]!.event!.type).toBe("key.created");
    // The 101 endpoint's message is retried (each answer a failure), not given up on in silence.
    await waitUntil(() => upgradeAnswers >= 2, 5000, "the 101 endpoint asked again");
    const list = await t.grpc.listWebhookEndpoints({ tenantId: "evil" }, admin);
    expect(list.endpoints[0]!.lastFailure).toBe("HTTP 101");
  });
});
