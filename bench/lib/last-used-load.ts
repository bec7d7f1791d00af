import { createMongoTokenStore } from "../../src/adapters/mongo/mongo-token-store.js";
import { createLastUsedRecorder, type LastUsedRecorder } from "../../src/domain/last-used-recorder.js";
import type { TokenStore } from "../../src/ports/token-store.js";
import { modelLastUsed } from "../../test/support/mongo-last-used-model.js";
import { startMongoWireStub } from "../../test/support/mongo-wire-stub.js";

/**
 * last_used_at write load with several instances (issue 18.8). No mongod can run on the build
 * machines, so the deployment is the wire stub (test/support/mongo-wire-stub.ts) with a model of
 * `keys.lastUsedAt` that applies each update's filter as mongod would and counts the documents
 * modified (each an oplog entry and a change event every instance's stream scans). Each simulated
 * instance is the real thing otherwise: its own MongoClient (real driver), the MongoDB store and a
 * LastUsedRecorder flushing every second, started at staggered times (flushes spread over the
 * second), recording a use of every busy key every `tickMs`, in real time.
 */
export interface LastUsedLoadResult {
  instances: number;
  keys: number;
  seconds: number;
  /** Documents modified per second with the adapter's filter (the coarseness bound). */
  writes_per_s: number;
  writes_per_key_per_s: number;
  /** What `$max` alone (filter `{_id}`) would have modified per second under the same load. */
  max_only_writes_per_s: number;
  max_only_writes_per_key_per_s: number;
  /** Update statements the instances sent per second (one per key per flush per instance). */
  statements_per_s: number;
  /** Largest gap seen between now and a key's stored lastUsedAt (what other instances' ListKeys show). */
  worst_stored_lag_ms: number;
  deployment: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function measureLastUsedLoad(opts: {
  instances: number;
  keys: number;
  seconds: number;
  tickMs?: number;
}): Promise<LastUsedLoadResult> {
  const tickMs = opts.tickMs ?? 100;
  const stub = await startMongoWireStub();
  const ids = Array.from({ length: opts.keys }, (_, i) => `key_${String(i).padStart(20, "0")}`);
  const model = modelLastUsed(stub, ids);
  const stores: TokenStore[] = [];
  const recorders: LastUsedRecorder[] = [];
  const timers: NodeJS.Timeout[] = [];
  try {
    for (let i = 0; i < opts.instances; i++) {
      if (i > 0) await sleep(Math.floor(1000 / opts.instances)); // each instance's flush timer at its own phase
      const store = createMongoTokenStore({ uri: stub.uri, dbName: "wf_bench", retry: { initialMs: 10, maxMs: 50 } });
      stores.push(store);
      while (
        !(await store.ping().then(
          () => true,
          () => false,
        ))
      )
        await sleep(10);
      const recorder = createLastUsedRecorder(store, { flushIntervalMs: 1000 });
      recorders.push(recorder);
      timers.push(
        setInterval(() => {
          const now = new Date();
          for (const id of ids) recorder.record(id, now);
        }, tickMs),
      );
    }
    await sleep(2000); // every instance has flushed at least once
    const start = {
      written: model.written,
      maxOnly: model.maxOnlyWritten,
      statements: model.statements,
      at: performance.now(),
    };
    let worstLag = 0;
    const deadline = start.at + opts.seconds * 1000;
    while (performance.now() < deadline) {
      await sleep(100);
      const now = Date.now();
      for (const id of ids) worstLag = Math.max(worstLag, now - (model.stored.get(id)?.getTime() ?? 0));
    }
    const secs = (performance.now() - start.at) / 1000;
    const written = model.written - start.written;
    const maxOnly = model.maxOnlyWritten - start.maxOnly;
    const r = (x: number) => Math.round(x * 100) / 100;
    return {
      instances: opts.instances,
      keys: opts.keys,
      seconds: r(secs),
      writes_per_s: r(written / secs),
      writes_per_key_per_s: r(written / secs / opts.keys),
      max_only_writes_per_s: r(maxOnly / secs),
      max_only_writes_per_key_per_s: r(maxOnly / secs / opts.keys),
      statements_per_s: r((model.statements - start.statements) / secs),
      worst_stored_lag_ms: worstLag,
      deployment: "wire stub with a model of mongod's filter and $max (no mongod on the build machines)",
    };
  } finally {
    for (const t of timers) clearInterval(t);
    for (const rec of recorders) await rec.close().catch(() => undefined);
    for (const s of stores) await s.close().catch(() => undefined);
    await stub.close();
  }
}
