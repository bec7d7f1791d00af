import { afterAll, describe, expect, it } from "vitest";
import { createMemoryTokenStore } from "../../src/adapters/memory/memory-token-store.js";
import type { TokenStore } from "../../src/ports/token-store.js";
import { createCountingStore } from "../support/counting-store.js";
import { useTestApp } from "../support/test-app.js";
import { waitUntil } from "../support/poll.js";
import { metricsText, samples } from "../support/probes.js";

/**
 * Single flight (BENCHMARKS.md, "store reads at steady state"): concurrent cache misses on one
 * token share one store read, so a store slower than one event-loop turn (MongoDB) still sees at
 * most one read per token per cache lifetime. Real service over gRPC; the store's token lookup is
 * held open until all 50 calls have missed the cache (counted by the service's own /metrics).
 */
const raw = createMemoryTokenStore();
let gate: { open: Promise<void>; release(): void } | undefined;
const held = (): NonNullable<typeof gate> => {
  let release!: () => void;
  const open = new Promise<void>((r) => (release = r));
  return { open, release };
};
const slow: TokenStore = {
  ...raw,
  findKeyByHash: async (hash) => {
    await gate?.open;
    return raw.findKeyByHash(hash);
  },
  findSessionByHash: async (hash) => {
    await gate?.open;
    return raw.findSessionByHash(hash);
  },
};
/** Counts calls as they are made (before the slow part). */
const counting = createCountingStore(slow);

const t = useTestApp({ store: counting.store, logLevel: "warn" });
afterAll(async () => {
  gate?.release();
});

async function cacheMisses(type: string): Promise<number> {
  return (
    samples(await metricsText(t.baseUrl), "warpflow_token_cache_lookups_total", {
      token_type: type,
      result: "miss",
    })[0] ?? 0
  );
}

describe("single flight on cache misses", () => {
  it.each([
    [
      "API key",
      "api_key",
      "findKeyByHash",
      () => t.grpc.createKey({ tenantId: "acme", label: "sf" }, { bearer: t.adminKey }),
    ],
    [
      "session token",
      "session",
      "findSessionByHash",
      () => t.grpc.createSession({ tenantId: "acme" }, { bearer: t.adminKey }),
    ],
  ] as const)(
    "%s: 50 concurrent Introspects of one uncached token against a slow store make exactly one store read",
    async (_n, type, method, issue) => {
      const { token } = await issue();
      gate = held();
      const readsBefore = counting.counts[method]!;
      const missesBefore = await cacheMisses(type);
      const calls = Array.from({ length: 50 }, () => t.grpc.introspect({ token }));
      // Every call has reached the service and missed the cache while the one read is still held.
      await waitUntil(async () => (await cacheMisses(type)) - missesBefore >= 50, 10_000, "50 cache misses");
      expect(counting.counts[method]! - readsBefore).toBe(1);
      gate.release();
      const results = await Promise.all(calls);
      for (const r of results) expect(r).toMatchObject({ active: true, tenantId: "acme" });
      expect(counting.counts[method]! - readsBefore).toBe(1);
      gate = undefined;
    },
  );
});
