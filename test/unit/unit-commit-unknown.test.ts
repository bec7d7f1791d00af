import { MongoServerError, type ClientSession } from "mongodb";
import { describe, expect, it } from "vitest";
import { createMemoryTokenStore } from "../../src/adapters/memory/memory-token-store.js";
import { createMongoUnitOfWork } from "../../src/adapters/mongo/mongo-unit-of-work.js";
import { systemClock } from "../../src/ports/clock.js";
import { createKeyService } from "../../src/domain/key-service.js";
import { createSessionService } from "../../src/domain/session-service.js";
import { createLastUsedRecorder } from "../../src/domain/last-used-recorder.js";
import { createTokenCache } from "../../src/domain/token-cache.js";
import { pollUntil } from "../support/poll.js";

/**
 * Issue 24 review: CreateKey inside a unit of work (a MongoDB transaction) whose commit result stays
 * unknown past the budget. The caller is told UNAVAILABLE and never gets the plaintext; the key may
 * have landed with the commit. Before the unit existed, such an unacknowledged insert was revoked in
 * the background (key-service.ts, revokeOrphan); inside a unit the insert itself succeeds and the
 * failure comes at the commit, so the orphan kept one of the tenant's active places. A scripted
 * driver session (the commit never answers clearly); the key service and the store are real (the
 * embedded store stands for "the commit landed").
 */
function unknownCommitSession() {
  let active = false;
  return {
    startTransaction: () => void (active = true),
    commitTransaction: async () => {
      active = false;
      const err = new MongoServerError({ message: "connection reset during commit", code: 6 });
      err.addErrorLabel("UnknownTransactionCommitResult");
      throw err;
    },
    abortTransaction: async () => void (active = false),
    inTransaction: () => active,
    endSession: async () => undefined,
  };
}

describe("a unit of work whose commit result is unknown", () => {
  it("CreateKey's key, which the caller never received, is revoked in the background", async () => {
    const store = createMemoryTokenStore();
    const unit = createMongoUnitOfWork({
      startSession: async () => unknownCommitSession() as unknown as ClientSession,
      supported: () => true,
      budgetMs: 100,
      wtimeoutMS: 50,
      maxCommitTimeMS: 50,
    });
    const keys = createKeyService({
      store,
      clock: systemClock,
      cache: createTokenCache(),
      lastUsed: createLastUsedRecorder(store, { flushIntervalMs: 60_000 }),
      sessions: createSessionService({ store, clock: systemClock, cache: createTokenCache() }),
      unit,
    });
    await expect(unit.run(() => keys.create("acme", "ci", "admin"))).rejects.toThrow(/connection reset/);
    const [key] = await store.listKeys("acme", 0);
    expect(key?.status).toBe("active"); // landed (the embedded store stands for a commit that did)
    expect(await pollUntil(async () => (await store.getKey("acme", key!.id))?.status === "revoked", 5000)).toBe(true);
    expect((await store.getKey("acme", key!.id))?.revokedBy).toBe("system:unacknowledged-write");
  });

  it("a unit that commits, or fails before its commit, revokes nothing", async () => {
    const store = createMemoryTokenStore();
    let active = false;
    const committing = {
      startTransaction: () => void (active = true),
      commitTransaction: async () => void (active = false),
      abortTransaction: async () => void (active = false),
      inTransaction: () => active,
      endSession: async () => undefined,
    };
    const unit = createMongoUnitOfWork({
      startSession: async () => committing as unknown as ClientSession,
      supported: () => true,
      budgetMs: 1000,
      wtimeoutMS: 50,
      maxCommitTimeMS: 50,
    });
    const keys = createKeyService({
      store,
      clock: systemClock,
      cache: createTokenCache(),
      lastUsed: createLastUsedRecorder(store, { flushIntervalMs: 60_000 }),
      sessions: createSessionService({ store, clock: systemClock, cache: createTokenCache() }),
      unit,
    });
    const { key } = await unit.run(() => keys.create("acme", "ok", "admin"));
    await expect(
      unit.run(async () => {
        await keys.create("acme", "rolled back", "admin");
        throw new Error("scripted failure before the commit");
      }),
    ).rejects.toThrow("scripted failure");
    await new Promise((r) => setTimeout(r, 900)); // revokeOrphan's first look is after 500 ms
    for (const k of await store.listKeys("acme", 0)) expect(k.status, k.label).toBe("active");
    expect((await store.getKey("acme", key.id))?.status).toBe("active");
  });
});
