import { describe, expect, it } from "vitest";
import { createMemoryWebhookStore } from "../../src/adapters/memory/memory-webhook-store.js";
import { signingSecrets } from "../../src/domain/webhook-records.js";
import { createWebhookService } from "../../src/domain/webhook-service.js";
import { createManualClock } from "../support/manual-clock.js";

/**
 * RotateWebhookSecret answers a secret the receiver is to switch to. Two rotations at once (two
 * admins, a retried CLI call) both answered OK: each answered secret must sign deliveries, or a
 * receiver switched to the lost one fails every delivery once the overlap ends.
 */
describe("RotateWebhookSecret called twice at once", () => {
  it("every secret it answered signs the next delivery (was: one was overwritten, never signing)", async () => {
    const clock = createManualClock(new Date("2030-01-01T00:00:00Z"));
    const store = createMemoryWebhookStore();
    const service = createWebhookService({ store, clock, maxEndpointsPerTenant: 10, secretOverlapMs: 86_400_000 });
    const { endpoint, secret: first } = await service.create({
      tenantId: "acme",
      url: "https://hooks.acme.example/",
      events: [],
      createdBy: "test",
    });
    const [a, b] = await Promise.all([
      service.rotateSecret("acme", endpoint.id),
      service.rotateSecret("acme", endpoint.id),
    ]);
    const stored = (await store.getEndpoint(endpoint.id))!;
    const signing = signingSecrets(stored, clock.now());
    // Booleans, so a failure prints no secret.
    expect({ a: signing.includes(a.secret), b: signing.includes(b.secret) }).toEqual({ a: true, b: true });
    // The original secret dropped: a second rotation within the overlap drops the oldest.
    expect(signing.includes(first)).toBe(false);
    expect(signing).toHaveLength(2);
  });

  it("a rotation of another tenant's endpoint is still NOT_FOUND", async () => {
    const clock = createManualClock(new Date("2030-01-01T00:00:00Z"));
    const store = createMemoryWebhookStore();
    const service = createWebhookService({ store, clock, maxEndpointsPerTenant: 10, secretOverlapMs: 86_400_000 });
    const { endpoint } = await service.create({
      tenantId: "acme",
      url: "https://hooks.acme.example/",
      events: [],
      createdBy: "test",
    });
    await expect(service.rotateSecret("other", endpoint.id)).rejects.toThrow(/no such webhook endpoint/);
  });
});
