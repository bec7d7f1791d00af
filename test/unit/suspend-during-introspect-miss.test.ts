import { describe, expect, it } from "vitest";
import { createMemoryTokenStore } from "../../src/adapters/memory/memory-token-store.js";
import type { TokenStore } from "../../src/ports/token-store.js";
import { createDomain } from "../support/domain.js";

/** A SuspendKey lands while an Introspect miss is reading the key: the read's record is not cached. */
describe("SuspendKey during an Introspect cache miss", () => {
  it("the in-flight read answers what it read; the next call (cached path and store path) is SUSPENDED", async () => {
    const inner = createMemoryTokenStore();
    let hold: Promise<void> | undefined;
    let reached!: () => void;
    const store: TokenStore = {
      ...inner,
      findKeyByHash: async (hash) => {
        const found = await inner.findKeyByHash(hash); // read before the suspend
        reached();
        if (hold) await hold;
        return found;
      },
    };
    const d = createDomain({ store });
    const k = await d.keys.create("acme", "ci", "t");
    await d.policies.get("acme");
    let release!: () => void;
    hold = new Promise<void>((r) => (release = r));
    const atRead = new Promise<void>((r) => (reached = r));
    const inflight = d.introspector.introspect(k.token);
    await atRead;
    await d.keys.suspend("acme", k.key.id, "ops");
    release();
    expect((await inflight).active).toBe(true); // read before the suspend: a linearizable answer
    hold = undefined;
    expect(d.introspector.introspectCached!(k.token)).toBeUndefined(); // nothing cached from that read
    expect(await d.introspector.introspect(k.token)).toEqual({ active: false, reason: "suspended" });
    expect(d.introspector.introspectCached!(k.token)?.result).toEqual({ active: false, reason: "suspended" });
    await d.lastUsed.close();
  });
});
