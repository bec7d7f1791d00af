// RotateKey and SuspendKey on one key at the same time (review finding, session 32: both succeeded
// in 12 of 60 runs, leaving a suspended DEPRECATED key beside an active successor nobody suspended).
// The rule (key-suspension.ts): they exclude each other; whichever write lands first wins and the
// other answers FAILED_PRECONDITION. A real race: the key service on the memory store, every store
// call delayed by a random 0-2 ms before and after, so each side's read can precede the other's write.
import { describe, expect, it } from "vitest";
import { createMemoryTokenStore } from "../../src/adapters/memory/memory-token-store.js";
import { DomainError } from "../../src/domain/errors.js";
import type { TokenStore } from "../../src/ports/token-store.js";
import { createDomain } from "../support/domain.js";
import { sleep } from "../support/poll.js";

function jittered(store: TokenStore): TokenStore {
  const jitter = () => sleep(Math.random() * 2);
  return new Proxy(store, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver) as unknown;
      if (typeof value !== "function") return value;
      return async (...args: unknown[]) => {
        await jitter();
        const out = await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        await jitter();
        return out;
      };
    },
  });
}

describe("RotateKey vs SuspendKey on one key", () => {
  it("exactly one of them takes effect in every one of 60 racing runs; never a suspended deprecated key", async () => {
    const store = createMemoryTokenStore();
    const d = createDomain({ store: jittered(store) });
    const wins = { rotate: 0, suspend: 0 };
    for (let run = 0; run < 60; run++) {
      const { key } = await d.keys.create("acme", `k${run}`, "test");
      // Either may start first (rotation has more store calls: it reads the policy first).
      const [rotated, suspended] = await Promise.allSettled([
        d.keys.rotate("acme", key.id, "rotator", { graceMs: 3_600_000 }),
        sleep(Math.random() * 6).then(() => d.keys.suspend("acme", key.id, "suspender")),
      ]);
      const old = (await store.getKey("acme", key.id))!;
      expect(
        [rotated.status, suspended.status].filter((s) => s === "fulfilled"),
        `run ${run}: rotate ${rotated.status}, suspend ${suspended.status}`,
      ).toHaveLength(1);
      const loser = rotated.status === "rejected" ? rotated.reason : (suspended as PromiseRejectedResult).reason;
      expect(loser).toBeInstanceOf(DomainError);
      expect((loser as DomainError).code).toBe("failed_precondition");
      if (rotated.status === "fulfilled") {
        wins.rotate++;
        expect(old).toMatchObject({ status: "deprecated", rotatedToKeyId: rotated.value.key.id });
        expect(old.suspendedAt).toBeUndefined();
        expect((loser as Error).message).toMatch(/was rotated to .*: only active keys can be suspended/);
        await d.keys.revoke("acme", rotated.value.key.id, "test");
      } else {
        wins.suspend++;
        expect(old.status).toBe("active");
        expect(old.suspendedAt).toBeDefined();
        expect(old.rotatedToKeyId).toBeUndefined();
        expect((loser as Error).message).toMatch(/is suspended: resume it before rotating it/);
        // No successor was left behind: the tenant holds only this run's (suspended) key.
        expect((await store.listKeys("acme", 0)).filter((k) => k.status === "active").map((k) => k.id)).toEqual([
          key.id,
        ]);
      }
      await d.keys.revoke("acme", key.id, "test");
    }
    console.log(`rotate-vs-suspend: 60 runs, rotation won ${wins.rotate}, suspension won ${wins.suspend}`);
    expect(wins.rotate + wins.suspend).toBe(60);
  }, 60_000);
});
