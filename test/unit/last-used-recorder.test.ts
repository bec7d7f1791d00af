import { describe, expect, it } from "vitest";
import { createLastUsedRecorder } from "../../src/domain/last-used-recorder.js";
import type { KeyUse } from "../../src/ports/token-store.js";
import { sleep } from "../support/poll.js";

const t = (ms: number) => new Date(Date.UTC(2026, 0, 1) + ms);

describe("last_used_at recorder", () => {
  it("coalesces to one write per key per flush, keeping the newest time", async () => {
    const writes: KeyUse[][] = [];
    const r = createLastUsedRecorder(
      { recordKeyUses: async (u) => void writes.push([...u]) },
      { flushIntervalMs: 60_000 },
    );
    for (let i = 0; i < 1000; i++) r.record(`k${i % 3}`, t(i));
    r.record("k0", t(5)); // older than what is pending: ignored
    expect(await r.flush()).toBe(3);
    expect(writes).toHaveLength(1);
    expect(new Map(writes[0]!.map((u) => [u.keyId, u.at.getTime()]))).toEqual(
      new Map([
        ["k0", t(999).getTime()],
        ["k1", t(997).getTime()],
        ["k2", t(998).getTime()],
      ]),
    );
    expect(await r.flush()).toBe(0);
    await r.close();
  });

  it("keeps the uses of a failed flush for the next one, and close() flushes", async () => {
    let fail = true;
    const writes: KeyUse[][] = [];
    const r = createLastUsedRecorder(
      { recordKeyUses: async (u) => (fail ? Promise.reject(new Error("down")) : void writes.push([...u])) },
      { flushIntervalMs: 60_000 },
    );
    r.record("a", t(1));
    expect(await r.flush()).toBe(0); // failed, resolved (never an unhandled rejection)
    r.record("b", t(2));
    fail = false;
    await r.close();
    expect(writes).toHaveLength(1); // both uses in the one flush close() made
    expect(
      writes
        .flat()
        .map((u) => u.keyId)
        .sort(),
    ).toEqual(["a", "b"]);
  });

  it("does not pile up flushes behind a slow store: requests made meanwhile join one queued flush", async () => {
    let calls = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const r = createLastUsedRecorder(
      {
        recordKeyUses: async () => {
          calls++;
          await gate;
        },
      },
      { flushIntervalMs: 60_000 },
    );
    r.record("a", t(1));
    const inFlight = r.flush();
    await sleep(5); // the first flush is now waiting on the store
    r.record("b", t(2));
    const queued = [r.flush(), r.flush(), r.flush()];
    expect(queued[1]).toBe(queued[0]); // joined, not chained
    expect(queued[2]).toBe(queued[0]);
    expect(queued[0]).not.toBe(inFlight);
    release();
    expect(await inFlight).toBe(1);
    expect(await queued[0]).toBe(1);
    expect(calls).toBe(2);
    await r.close();
  });
});
