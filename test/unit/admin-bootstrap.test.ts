import { describe, expect, it, vi } from "vitest";
import { createMemoryTokenStore } from "../../src/adapters/memory/memory-token-store.js";
import { withStoreTimeout } from "../../src/app/store-timeout.js";
import { BOOTSTRAP_LEASE, ensureAdminKey } from "../../src/domain/admin-bootstrap.js";
import { newKeyId } from "../../src/domain/key-rules.js";
import type { KeyRecord } from "../../src/domain/records.js";
import { ADMIN_TENANT_ID } from "../../src/domain/tenant-id.js";
import { generateToken } from "../../src/domain/token-format.js";
import { createKeyService } from "../../src/domain/key-service.js";
import { createSessionService } from "../../src/domain/session-service.js";
import { createLastUsedRecorder } from "../../src/domain/last-used-recorder.js";
import { createTokenCache } from "../../src/domain/token-cache.js";
import { hashToken } from "../../src/domain/token-hash.js";
import { systemClock } from "../../src/ports/clock.js";
import type { TokenStore } from "../../src/ports/token-store.js";
import { sleep } from "../support/poll.js";

let holders = 0;
function setup(store: TokenStore) {
  const keys = createKeyService({
    store,
    clock: systemClock,
    cache: createTokenCache(),
    lastUsed: createLastUsedRecorder(store, { flushIntervalMs: 60_000 }),
    sessions: createSessionService({ store, clock: systemClock, cache: createTokenCache() }),
  });
  return { store, clock: systemClock, keys, holder: `test-${++holders}` };
}

describe("bootstrap admin key", () => {
  it("saves the plaintext before storing the key, and does nothing when an admin key exists", async () => {
    const raw = createMemoryTokenStore();
    const events: string[] = [];
    const store = {
      ...raw,
      insertKey: async (...a: Parameters<typeof raw.insertKey>) => (events.push("insert"), raw.insertKey(...a)),
    };
    const outcome = await ensureAdminKey({ ...setup(store), save: async () => void events.push("save") });
    expect(events).toEqual(["save", "insert"]);
    if (outcome.kind !== "created") throw new Error(`expected created, got ${outcome.kind}`);
    expect(outcome.issued.token).toMatch(/^wf_admin_/);
    expect((await raw.findKeyByHash(hashToken(outcome.issued.token)))?.status).toBe("active");
    expect(await ensureAdminKey({ ...setup(store), save: async () => void events.push("save again") })).toEqual({
      kind: "existing",
    });
    expect(events).not.toContain("save again");
  });

  it("stores nothing when the key cannot be saved, and says so", async () => {
    const raw = createMemoryTokenStore();
    const outcome = await ensureAdminKey({
      ...setup(raw),
      save: async () => Promise.reject(new Error("EROFS: read-only file system")),
    });
    expect(outcome).toEqual({
      kind: "missing",
      reason: "cannot write the admin key file: EROFS: read-only file system",
    });
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
      const done = ensureAdminKey({
        ...setup(withStoreTimeout(slow, 50)),
        retryDelayMs: 200,
        save: async (t) => void (saved = t),
      }).then((r) => (result = r));
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

describe("bootstrap admin key: the lease and the supplied key (issue 26.1)", () => {
  const adminKey = (over: Partial<KeyRecord> = {}): KeyRecord => ({
    id: newKeyId(),
    tenantId: ADMIN_TENANT_ID,
    label: "k",
    tokenHash: `h-${newKeyId()}`,
    hint: "wf_admin_...",
    status: "active",
    createdAt: new Date(),
    createdBy: "t",
    ...over,
  });

  it("waits while another instance holds the lease, and never saves; takes over once that lease expires", async () => {
    const store = createMemoryTokenStore();
    // An instance that claimed the lease and died: it is never released.
    expect(
      await store.claimLease({
        name: BOOTSTRAP_LEASE,
        holder: "dead",
        now: new Date(),
        until: new Date(Date.now() + 300),
      }),
    ).toBe(true);
    const saves: string[] = [];
    const started = Date.now();
    const outcome = await ensureAdminKey({ ...setup(store), pollMs: 20, save: async (t) => void saves.push(t) });
    expect(outcome.kind).toBe("created");
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(saves).toHaveLength(1);
  });

  it("a waiting instance that sees the key appear ends with it, without saving anything", async () => {
    const store = createMemoryTokenStore();
    await store.claimLease({
      name: BOOTSTRAP_LEASE,
      holder: "other",
      now: new Date(),
      until: new Date(Date.now() + 60_000),
    });
    const saves: string[] = [];
    const done = ensureAdminKey({ ...setup(store), pollMs: 20, save: async (t) => void saves.push(t) });
    await sleep(100);
    await store.insertKey(adminKey(), 3); // the holder stored its key
    expect(await done).toEqual({ kind: "existing" });
    expect(saves).toEqual([]);
  });

  it("registers a supplied key once by hash (idempotent), never saving or minting", async () => {
    const store = createMemoryTokenStore();
    const supplied = generateToken("api_key", ADMIN_TENANT_ID);
    const save = async () => {
      throw new Error("must not save");
    };
    const first = await ensureAdminKey({ ...setup(store), supplied, save });
    expect(first).toMatchObject({ kind: "supplied", registered: true });
    expect(await ensureAdminKey({ ...setup(store), supplied, save })).toMatchObject({
      kind: "supplied",
      registered: false,
    });
    expect((await store.listKeys(ADMIN_TENANT_ID, 10)).map((k) => k.tokenHash)).toEqual([hashToken(supplied)]);
  });

  it("a supplied key that is malformed, revoked, or finds the admin tenant full: missing, or a warning when another admin key is usable", async () => {
    const store = createMemoryTokenStore();
    expect(await ensureAdminKey({ ...setup(store), supplied: "wf_acme_nope" })).toMatchObject({
      kind: "missing",
      reason: expect.stringContaining("not a well-formed admin key"),
    });
    const revoked = generateToken("api_key", ADMIN_TENANT_ID);
    const k = adminKey({ tokenHash: hashToken(revoked) });
    await store.insertKey(k, 3);
    await store.revokeKey({ tenantId: ADMIN_TENANT_ID, keyId: k.id, revokedAt: new Date() });
    expect(await ensureAdminKey({ ...setup(store), supplied: revoked })).toMatchObject({
      kind: "missing",
      reason: expect.stringContaining("is revoked"),
    });
    for (let i = 0; i < 3; i++) await store.insertKey(adminKey(), 3);
    const fresh = generateToken("api_key", ADMIN_TENANT_ID);
    expect(await ensureAdminKey({ ...setup(store), supplied: fresh })).toMatchObject({
      kind: "existing",
      warning: expect.stringContaining("cannot be registered"),
    });
    expect(await ensureAdminKey({ ...setup(store), supplied: revoked })).toMatchObject({
      kind: "existing",
      warning: expect.stringContaining("is revoked"),
    });
    // No lease is left behind.
    expect(
      await store.claimLease({
        name: BOOTSTRAP_LEASE,
        holder: "x",
        now: new Date(),
        until: new Date(Date.now() + 1000),
      }),
    ).toBe(true);
  });

  it("without a supplied key and without save (never mint): missing", async () => {
    expect(await ensureAdminKey({ ...setup(createMemoryTokenStore()) })).toMatchObject({ kind: "missing" });
  });
});
