import { afterEach, describe, expect, it } from "vitest";
import { createMemoryTokenStore } from "../../src/adapters/memory/memory-token-store.js";
import type { TokenStore } from "../../src/ports/token-store.js";
import { createDomain } from "../support/domain.js";

let d: ReturnType<typeof createDomain>;
let release: (() => void) | undefined;
afterEach(async () => {
  release?.();
  await d?.lastUsed.close();
});

/** recordKeyUses (the flush's write) held until released; listKeys reads held while `holdList` is set. */
function heldStore() {
  const inner = createMemoryTokenStore();
  const writeGate = new Promise<void>((r) => (release = r));
  let writeStarted!: () => void;
  const writing = new Promise<void>((r) => (writeStarted = r));
  let holdList: Promise<void> | undefined;
  const store: TokenStore = {
    ...inner,
    recordKeyUses: async (uses) => {
      writeStarted();
      await writeGate;
      return inner.recordKeyUses(uses);
    },
    listKeys: async (tenantId, limit) => {
      const read = await inner.listKeys(tenantId, limit);
      if (holdList) await holdList;
      return read;
    },
  };
  return {
    store,
    writing,
    holdListUntil: (p: Promise<void> | undefined) => {
      holdList = p;
    },
  };
}

const lastUsedOf = async (id: string) => (await d.keys.list("acme")).find((k) => k.id === id)?.lastUsedAt;

describe("ListKeys' last_used_at on this instance never moves backwards", () => {
  it("while the flush that writes the use is in flight", async () => {
    const held = heldStore();
    d = createDomain({ store: held.store });
    const { token, key } = await d.keys.create("acme", "ci", "test");
    expect((await d.introspector.introspect(token)).active).toBe(true);
    const usedAt = d.clock.now();
    expect(await lastUsedOf(key.id)).toEqual(usedAt); // the pending use

    const flushing = d.lastUsed.flush();
    await held.writing; // the batch left `pending`; the store has not written it yet
    expect(await lastUsedOf(key.id)).toEqual(usedAt);
    release!();
    await flushing;
    expect(await lastUsedOf(key.id)).toEqual(usedAt);
  });

  it("when the flush's write lands between ListKeys' store read and its view", async () => {
    const held = heldStore();
    d = createDomain({ store: held.store });
    const { token, key } = await d.keys.create("acme", "ci", "test");
    expect((await d.introspector.introspect(token)).active).toBe(true);
    const usedAt = d.clock.now();

    let readDone!: () => void;
    held.holdListUntil(new Promise<void>((r) => (readDone = r)));
    const listing = lastUsedOf(key.id); // reads the store before the write
    await new Promise((r) => setImmediate(r));
    const flushing = d.lastUsed.flush();
    await held.writing;
    release!();
    await flushing; // written, and no longer pending
    held.holdListUntil(undefined);
    readDone();
    expect(await listing).toEqual(usedAt);
  });
});
