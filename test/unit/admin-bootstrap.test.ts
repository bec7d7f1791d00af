import { describe, expect, it, vi } from "vitest";
import { createMemoryTokenStore } from "../../src/adapters/memory/memory-token-store.js";
import { withStoreTimeout } from "../../src/app/store-timeout.js";
import { ensureAdminKey } from "../../src/domain/admin-bootstrap.js";
import { createKeyService } from "../../src/domain/key-service.js";
import { createLastUsedRecorder } from "../../src/domain/last-used-recorder.js";
import { createTokenCache } from "../../src/domain/token-cache.js";
import { hashToken } from "../../src/domain/token-hash.js";
import { systemClock } from "../../src/ports/clock.js";
import type { TokenStore } from "../../src/ports/token-store.js";

let holders = 0;
function setup(store: TokenStore) {
  const keys = createKeyService({ store, clock: systemClock, cache: createTokenCache(), lastUsed: createLastUsedRecorder(store, { flushIntervalMs: 60_000 }) });
  return { store, clock: systemClock, keys, holder: `test-${++holders}` };
}

describe("bootstrap admin key", () => {
  it("saves the plaintext before storing the key, and does nothing when an admin key exists", async () => {
    const raw = createMemoryTokenStore();
    const events: string[] = [];
    const store = { ...raw, insertKey: async (...a: Parameters<typeof raw.insertKey>) => (events.push("insert"), raw.insertKey(...a)) };
    const outcome = await ensureAdminKey({ ...setup(store), save: async () => void events.push("save") });
    expect(events).toEqual(["save", "insert"]);
    if (outcome.kind !== "created") throw new Error(`expected created, got ${outcome.kind}`);
    expect(outcome.issued.token).toMatch(/^wf_admin_/);
    expect((await raw.findKeyByHash(hashToken(outcome.issued.token)))?.status).toBe("active");
    expect(await ensureAdminKey({ ...setup(store), save: async () => void events.push("save again") })).toEqual({ kind: "existing" });
    expect(events).not.toContain("save again");
  });

  it("stores nothing when the key cannot be saved, and says so", async () => {
    const raw = createMemoryTokenStore();
    const outcome = await ensureAdminKey({ ...setup(raw), save: async () => Promise.reject(new Error("EROFS: read-only file system")) });
    expect(outcome).toEqual({ kind: "missing", reason: "cannot write the admin key file: EROFS: read-only file system" });
    expect(await raw.listKeys("admin", 10)).toEqual([]);
  });

  it("a store write that times out but lands later still ends with exactly the saved key usable", async () => {
    // Injected timers: the 50 ms store timeout and the 200 ms retry delay are moved by hand, and the
    // first insert lands when the test releases it.
    vi.useFakeTimers();
    try {
      const raw = createMemoryTokenStore();
      let land!: () => void;
      const gate = new Promise<void>((r) => (land = r));
      let first = true;
      const slow: TokenStore = {
        ...raw,
        insertKey: async (...a) => {
          if (first) {
            first = false;
            await gate;
          }
          return raw.insertKey(...a);
        },
      };
      let saved = "";
      let result: Awaited<ReturnType<typeof ensureAdminKey>> | undefined;
      const done = ensureAdminKey({ ...setup(withStoreTimeout(slow, 50)), retryDelayMs: 200, save: async (t) => void (saved = t) }).then((r) => (result = r));
      await vi.advanceTimersByTimeAsync(50); // the insert timed out: outcome unknown
      expect(result).toBeUndefined();
      land(); // ...and lands after its deadline
      await vi.advanceTimersByTimeAsync(200); // the retry asks the store, finds the landed key
      await done;
      expect(result).toMatchObject({ kind: "created", issued: { token: saved } });
      const admin = (await raw.listKeys("admin", 10)).filter((k) => k.status === "active");
      expect(admin.map((k) => k.tokenHash)).toEqual([hashToken(saved)]);
    } finally {
      vi.useRealTimers();
    }
  });
});
