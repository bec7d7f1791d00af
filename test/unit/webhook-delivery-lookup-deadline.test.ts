import { describe, expect, it } from "vitest";
import { createDestinationGuard } from "../../src/adapters/webhook/destination-guard.js";
import { createHttpDelivery } from "../../src/adapters/webhook/webhook-http.js";

describe("webhook delivery: the attempt's deadline covers the destination lookup", () => {
  it("a lookup that does not answer ends the attempt as a timeout at WEBHOOK_TIMEOUT_MS (was: waited on the resolver)", async () => {
    const guard = createDestinationGuard({ allowPrivate: false, resolveAll: () => new Promise(() => undefined) });
    const deliver = createHttpDelivery({ guard, timeoutMs: 300, maxResponseBytes: 1024 });
    const started = Date.now();
    const outcome = await Promise.race([
      deliver("https://slow-dns.example/hook", {}, "{}"),
      new Promise((resolve) => setTimeout(() => resolve("still pending after 3 s"), 3000)),
    ]);
    expect(outcome).toEqual({ ok: false, failure: "timeout" });
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it("shutdown ends an attempt still waiting on its lookup", async () => {
    const guard = createDestinationGuard({ allowPrivate: false, resolveAll: () => new Promise(() => undefined) });
    const deliver = createHttpDelivery({ guard, timeoutMs: 60_000, maxResponseBytes: 1024 });
    const stopping = new AbortController();
    setTimeout(() => stopping.abort(), 100);
    const outcome = await Promise.race([
      deliver("https://slow-dns.example/hook", {}, "{}", stopping.signal),
      new Promise((resolve) => setTimeout(() => resolve("still pending after 3 s"), 3000)),
    ]);
    expect(outcome).toEqual({ ok: false, failure: "aborted (shutdown)" });
  });
});
