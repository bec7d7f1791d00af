import { describe, expect, it } from "vitest";
import { createMemoryTokenStore } from "../../src/adapters/memory/memory-token-store.js";
import { StoreUnavailableError } from "../../src/domain/errors.js";
import type { TokenStore } from "../../src/ports/token-store.js";
import { createDomain } from "../support/domain.js";

/**
 * SetTenantPolicy whose write lands but whose answer is lost (a timeout after the
 * server applied it) must still drop this instance's cached policy, as RevokeKey, RotateKey,
 * SuspendKey and RevokeSession do ("even on failure: the write may have landed"). Otherwise a
 * HIPAA tenant's cached API key keeps answering active here for the cache's lifetime although the
 * stored policy forbids it.
 */
describe("a policy write whose answer is lost", () => {
  it("HIPAA stored on, the write's answer lost: the tenant's cached key is no longer active here", async () => {
    const inner = createMemoryTokenStore();
    let loseAnswer = false;
    const store: TokenStore = Object.assign(Object.create(null), inner, {
      setPolicy: async (...args: Parameters<TokenStore["setPolicy"]>) => {
        const saved = await inner.setPolicy(...args);
        if (loseAnswer) throw new StoreUnavailableError("setPolicy: answer lost after the write");
        return saved;
      },
    });
    const d = createDomain({ store });
    const { token } = await d.keys.create("clinic", "k", "test");
    expect((await d.introspector.introspect(token)).active).toBe(true); // key and policy cached
    loseAnswer = true;
    await expect(d.policies.set("clinic", true, "test")).rejects.toThrow();
    expect((await inner.getPolicy("clinic"))?.hipaaEnabled).toBe(true); // the write landed
    expect(await d.introspector.introspect(token)).toEqual({ active: false, reason: "tenant_policy" });
  });
});
