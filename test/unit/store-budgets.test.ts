import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { createMemoryTokenStore } from "../../src/adapters/memory/memory-token-store.js";
import { createMongoConnection } from "../../src/adapters/mongo/mongo-connection.js";
import { deriveMongoTimeouts } from "../../src/adapters/mongo/mongo-timeouts.js";
import { startMaintenance } from "../../src/app/maintenance.js";
import { openStore } from "../../src/app/open-store.js";
import { maintenanceTimeoutMs, withStoreTimeout } from "../../src/app/store-timeout.js";
import { loadConfig } from "../../src/config.js";
import { StoreUnavailableError } from "../../src/domain/errors.js";
import { systemClock } from "../../src/ports/clock.js";
import type { TokenStore } from "../../src/ports/token-store.js";
import { type MongoWireStub, startMongoWireStub } from "../support/mongo-wire-stub.js";
import { pollUntil, sleep } from "../support/poll.js";

/**
 * The order of the timeout layers (issue 18.6) and readiness under a flaky store (issue 18.11).
 * The driver's limits must be below the store's deadline, so the driver answers (success, or its
 * own typed failure) before the caller is told UNAVAILABLE; background calls have their own budget.
 */
const logger = pino({ level: "silent" });
let stub: MongoWireStub | undefined;
let store: TokenStore | undefined;
afterEach(async () => {
  await store?.close();
  store = undefined;
  await stub?.close();
  stub = undefined;
});

describe("timeout layers (issue 18.6)", () => {
  it.each([100, 2000, 30_000])("every driver limit is below its deadline (STORE_TIMEOUT_MS=%i)", (storeMs) => {
    const maintenanceMs = maintenanceTimeoutMs(storeMs);
    const t = deriveMongoTimeouts(storeMs, maintenanceMs);
    // One server selection plus one server-side execution (or replication wait) fits the deadline.
    expect(t.serverSelectionTimeoutMS + t.maxTimeMS).toBeLessThan(storeMs);
    expect(t.serverSelectionTimeoutMS + t.wtimeoutMS).toBeLessThan(storeMs);
    expect(t.waitQueueTimeoutMS).toBeLessThan(storeMs);
    expect(t.transactionBudgetMS).toBeLessThan(storeMs);
    expect(t.maintenanceMaxTimeMS).toBeLessThan(maintenanceMs);
    // The server's own time limits fire before a socket is cut (a cut socket closes the connection).
    expect(t.socketTimeoutMS).toBeGreaterThan(t.maintenanceMaxTimeMS);
    expect(t.socketTimeoutMS).toBeGreaterThan(t.maxTimeMS);
  });

  it("a majority write whose replication outlasts wtimeout is reported by the driver before STORE_TIMEOUT_MS, not by the wrapper", async () => {
    stub = await startMongoWireStub();
    stub.replicaSet = true;
    const wtimeouts: number[] = [];
    const maxTimes: number[] = [];
    stub.handle = async (cmd) => {
      if (cmd.name !== "insert") return undefined;
      // Replication is stuck: the server waits out the wtimeout the write names, then says so.
      const wtimeout = Number(cmd.doc.writeConcern?.wtimeout ?? 0);
      wtimeouts.push(wtimeout);
      maxTimes.push(Number(cmd.doc.maxTimeMS ?? 0));
      await sleep(wtimeout);
      return {
        ok: 1,
        n: 1,
        writeConcernError: {
          code: 64,
          codeName: "WriteConcernFailed",
          errmsg: "waiting for replication timed out",
          errInfo: { wtimeout: true },
        },
      };
    };
    const storeMs = 1000;
    const config = loadConfig({ MONGODB_URI: stub.uri, MONGODB_DB: "wf", STORE_TIMEOUT_MS: String(storeMs) });
    store = (await openStore(config, logger)).store;
    const timed = withStoreTimeout(store, storeMs);
    expect(
      await pollUntil(() =>
        timed.ping().then(
          () => true,
          () => false,
        ),
      ),
    ).toBe(true);
    const now = new Date();
    const session = {
      id: "ses_AAAAAAAAAAAAAAAAAAAA",
      tenantId: "acme",
      tokenHash: "h".repeat(64),
      subject: "u",
      createdAt: now,
      expiresAt: new Date(now.getTime() + 3_600_000),
    };
    const err = await timed.insertSession(session as never).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StoreUnavailableError);
    // The driver's answer (the write-concern error), not "did not answer within 1000 ms".
    expect((err as Error).message).toMatch(/waiting for replication timed out/);
    expect(wtimeouts[0]).toBeLessThan(storeMs);
    expect(maxTimes[0]).toBeLessThan(storeMs);
  }, 15_000);

  it("background calls get the maintenance budget; caller-facing calls keep STORE_TIMEOUT_MS", async () => {
    const slow = (ms: number) => sleep(ms);
    const inner = createMemoryTokenStore();
    const slowStore: TokenStore = {
      ...inner,
      deleteExpiredSessions: async (now) => (await slow(150), inner.deleteExpiredSessions(now)),
      getPolicy: async (tenantId) => (await slow(150), inner.getPolicy(tenantId)),
    };
    const timed = withStoreTimeout(slowStore, 100);
    await expect(timed.deleteExpiredSessions(new Date())).resolves.toBe(0);
    await expect(timed.getPolicy("acme")).rejects.toBeInstanceOf(StoreUnavailableError);
  });
});

describe("timeouts given in MONGODB_URI (issue 18.6)", () => {
  it("start-up says once which driver timeouts the connection string overrides", async () => {
    const lines: string[] = [];
    const capture = pino({ level: "warn" }, { write: (l: string) => void lines.push(l) });
    const quiet = createMongoConnection({
      uri: "mongodb://127.0.0.1:1/?directConnection=true",
      dbName: "wf",
      logger: capture,
      timeouts: deriveMongoTimeouts(2000),
    });
    await quiet.close();
    expect(lines.filter((l) => l.includes("win over"))).toEqual([]);
    const loud = createMongoConnection({
      uri: "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=30000",
      dbName: "wf",
      logger: capture,
      timeouts: deriveMongoTimeouts(2000),
    });
    await loud.close();
    const warned = lines.filter((l) => l.includes("win over")).map((l) => JSON.parse(l));
    expect(warned).toHaveLength(1);
    expect(warned[0].timeouts).toEqual({ serverSelectionTimeoutMS: { uri: 30000, derived: 800 } });
  });
});

describe("readiness (issue 18.11)", () => {
  it("one failed ping does not flip SERVING; failuresToUnready in a row do", async () => {
    const inner = createMemoryTokenStore();
    let failing = 0; // the next this many pings fail
    let pings = 0;
    const flaky: TokenStore = {
      ...inner,
      ping: async () => {
        pings++;
        if (failing > 0) {
          failing--;
          throw new StoreUnavailableError("scripted ping failure");
        }
      },
    };
    const serving: boolean[] = [];
    const m = startMaintenance({
      store: flaky,
      clock: systemClock,
      logger,
      jwt: { verify: async () => ({ ok: false, reason: "unverified" }), ready: () => true },
      server: { setServing: (s) => serving.push(s) },
      sweepIntervalMs: 60_000,
      checkIntervalMs: 10,
    });
    try {
      await m.ready;
      expect(serving).toEqual([true]);
      failing = 2; // an election: two checks fail, then the store answers again
      const before = pings;
      expect(await pollUntil(() => pings >= before + 4)).toBe(true);
      expect(serving).toEqual([true]);
      failing = 1_000; // a real outage
      expect(await pollUntil(() => serving.length > 1)).toBe(true);
      expect(serving).toEqual([true, false]);
    } finally {
      m.stop();
    }
  });
});
