import { describe, expect, it } from "vitest";
import { createMemoryTokenStore } from "../../src/adapters/memory/memory-token-store.js";
import type { ChangeFeedStatus, StoreChange, StoreChangeFeed } from "../../src/ports/store-changes.js";
import { useTestApp } from "../support/test-app.js";
import { metricsText, readyz, samples } from "../support/probes.js";

/**
 * Issue 10.4: an operator can see whether cross-instance invalidation is live or fell back to the
 * cache TTL: /readyz carries the feed's state (without changing the readiness status) and /metrics
 * warpflow_change_feed_up and warpflow_change_feed_reopens_total. The feed here is a stand-in with
 * a scripted status (the MongoDB feed's own transitions are tested in mongo-change-feed.test.ts).
 */
const status: ChangeFeedStatus = { state: "live", reopenings: 0 };
const listeners: ((c: StoreChange) => void)[] = [];
const feed: StoreChangeFeed = {
  subscribe: (l) => {
    listeners.push(l);
    return () => undefined;
  },
  status: () => ({ ...status }),
};
const t = useTestApp({ store: createMemoryTokenStore(), changes: feed, logLevel: "warn" });

const metric = async (name: string) => samples(await metricsText(t.baseUrl), name)[0];

describe("change feed health", () => {
  it("shows the feed's state in /readyz and /metrics", async () => {
    expect(await readyz(t.baseUrl)).toEqual({
      status: 200,
      body: { status: "serving", store: "memory", admin_key: "ok", change_feed: { state: "live", reopenings: 0 } },
    });
    expect(await metric("warpflow_change_feed_up")).toBe(1);
    status.state = "reopening";
    status.reopenings = 2;
    // Still serving (the cache TTL bounds staleness), but visibly degraded.
    expect(await readyz(t.baseUrl)).toEqual({
      status: 200,
      body: { status: "serving", store: "memory", admin_key: "ok", change_feed: { state: "reopening", reopenings: 2 } },
    });
    expect(await metric("warpflow_change_feed_up")).toBe(0);
    expect(await metric("warpflow_change_feed_reopens_total")).toBe(2);
  });
});
