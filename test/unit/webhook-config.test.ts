import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";

/** WEBHOOK_* settings (src/config/webhook-config.ts): defaults, and one clear error naming the variable. */
describe("webhook configuration", () => {
  it("defaults: delivery on, https only, SSRF guard on, about a day of retries, 10 endpoints per tenant", () => {
    expect(loadConfig({}).webhooks).toEqual({
      deliveryEnabled: true,
      pollMs: 1000,
      timeoutMs: 10_000,
      maxResponseBytes: 65_536,
      retryBaseMs: 5000,
      retryMaxMs: 36_000_000,
      disableAfterMs: 86_400_000,
      claimMs: 60_000,
      secretOverlapMs: 86_400_000,
      maxEndpointsPerTenant: 10,
      maxPendingPerEndpoint: 1000,
      allowHttp: false,
      allowPrivateDestinations: false,
      allowedCidrs: [],
    });
  });

  it("reads CIDRs; refuses a bad one, a bad switch, and a claim that does not outlast an attempt", () => {
    expect(loadConfig({ WEBHOOK_ALLOWED_CIDRS: "10.1.2.0/24, fd00::/8" }).webhooks.allowedCidrs).toEqual([
      { address: "10.1.2.0", prefix: 24, family: "ipv4" },
      { address: "fd00::", prefix: 8, family: "ipv6" },
    ]);
    expect(() => loadConfig({ WEBHOOK_ALLOWED_CIDRS: "10.1.2.0/33" })).toThrow(/^WEBHOOK_ALLOWED_CIDRS: /);
    expect(() => loadConfig({ WEBHOOK_ALLOWED_CIDRS: "localhost" })).toThrow(/^WEBHOOK_ALLOWED_CIDRS: /);
    expect(() => loadConfig({ WEBHOOK_DELIVERY: "maybe" })).toThrow(/^WEBHOOK_DELIVERY: /);
    expect(() => loadConfig({ WEBHOOK_ALLOW_HTTP: "yes" })).toThrow(/^WEBHOOK_ALLOW_HTTP: /);
    expect(() => loadConfig({ WEBHOOK_TIMEOUT_MS: "5000", WEBHOOK_CLAIM_MS: "5000" })).toThrow(/^WEBHOOK_CLAIM_MS: /);
    expect(loadConfig({ WEBHOOK_DELIVERY: "off" }).webhooks.deliveryEnabled).toBe(false);
    expect(loadConfig({ WEBHOOK_MAX_PENDING_PER_ENDPOINT: "50" }).webhooks.maxPendingPerEndpoint).toBe(50);
    expect(() => loadConfig({ WEBHOOK_MAX_PENDING_PER_ENDPOINT: "5" })).toThrow(/^WEBHOOK_MAX_PENDING_PER_ENDPOINT: /);
  });
});
