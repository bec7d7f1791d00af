import { describe, expect, it } from "vitest";
import { createMemoryTokenStore } from "../../src/adapters/memory/memory-token-store.js";
import type { TokenStore } from "../../src/ports/token-store.js";
import { createDomain } from "../support/domain.js";

/** Both RotateKey calls read the key before either writes (getKey answers both, then both go on). */
function bothReadFirst(inner: TokenStore): TokenStore {
  const waiting: (() => void)[] = [];
  return {
    ...inner,
    getKey: async (tenantId, keyId) => {
      const found = await inner.getKey(tenantId, keyId);
      if (waiting.length < 2)
        await new Promise<void>((release) => {
          waiting.push(release);
          if (waiting.length === 2) waiting.forEach((r) => r());
        });
      return found;
    },
  };
}

describe("RotateKey twice at once", () => {
  it("one successor; the other call is FAILED_PRECONDITION naming the key's state after the race", async () => {
    const inner = createMemoryTokenStore();
    const d = createDomain({ store: bothReadFirst(inner) });
    const { key } = await createDomain({ store: inner }).keys.create("acme", "ci", "t");
    const [x, y] = await Promise.allSettled([d.keys.rotate("acme", key.id, "a"), d.keys.rotate("acme", key.id, "b")]);
    const won = [x, y].filter((r) => r.status === "fulfilled");
    const lost = [x, y].flatMap((r) => (r.status === "rejected" ? [r.reason as Error & { code: string }] : []));
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(lost[0]!.code).toBe("failed_precondition");
    expect(lost[0]!.message).toMatch(/is deprecated/);

    const keys = await inner.listKeys("acme", 10);
    expect(keys.filter((k) => k.rotatedFromKeyId === key.id)).toHaveLength(1);
    expect(keys.find((k) => k.id === key.id)).toMatchObject({ status: "deprecated" });
    expect(keys.filter((k) => k.status === "active")).toHaveLength(1);
    await d.lastUsed.close();
  });
});
