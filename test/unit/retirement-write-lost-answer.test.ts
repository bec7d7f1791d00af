// a first-use retirement whose store write lands but whose answer is lost (a timeout
// after the server applied it) must still drop this instance's cached predecessor, as every other
// change does ("even on failure: the write may have landed"): the stored state says REVOKED, the
// cached entry (deprecated, in its grace) kept answering active here for the cache's lifetime.
import { afterEach, describe, expect, it } from "vitest";
import { createMemoryTokenStore } from "../../src/adapters/memory/memory-token-store.js";
import { createAuditTrail } from "../../src/domain/audit-trail.js";
import { StoreUnavailableError } from "../../src/domain/errors.js";
import { createFirstUseRetirement } from "../../src/domain/first-use-retirement.js";
import { createIntrospector } from "../../src/domain/introspector.js";
import { createKeyService } from "../../src/domain/key-service.js";
import { createLastUsedRecorder } from "../../src/domain/last-used-recorder.js";
import { createTokenCache } from "../../src/domain/token-cache.js";
import { disabledJwtVerifier } from "../../src/ports/jwt-verifier.js";
import type { TokenStore } from "../../src/ports/token-store.js";
import { createManualClock } from "../support/manual-clock.js";
import { waitUntil } from "../support/poll.js";

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

describe("retire on first use, the write's answer lost", () => {
  it("the predecessor stored REVOKED is not answered active from this instance's cache", async () => {
    const inner = createMemoryTokenStore();
    let calls = 0;
    const store: TokenStore = Object.assign(Object.create(null), inner, {
      retirePredecessor: async (...args: Parameters<TokenStore["retirePredecessor"]>) => {
        calls++;
        await inner.retirePredecessor(...args);
        throw new StoreUnavailableError("retirePredecessor: answer lost after the write");
      },
    });
    const clock = createManualClock();
    const cache = createTokenCache({ ttlMs: 60_000 });
    const lastUsed = createLastUsedRecorder(store, { flushIntervalMs: 60_000 });
    closers.push(() => lastUsed.close());
    const audit = createAuditTrail({ store, clock });
    const retire = createFirstUseRetirement({ store, clock, cache, audit: () => audit });
    const introspector = createIntrospector({
      store,
      clock,
      cache,
      lastUsed,
      jwt: disabledJwtVerifier,
      onKeyUse: retire,
    });
    const keys = createKeyService({ store, clock, cache, lastUsed });
    const old = await keys.create("acme", "CRM", "t");
    const successor = await keys.rotate("acme", old.key.id, "t", { retireOnFirstUse: true });
    expect(await introspector.introspect(old.token)).toMatchObject({ active: true, deprecated: true }); // cached
    expect((await introspector.introspect(successor.token)).active).toBe(true); // the first use
    await waitUntil(() => calls === 1, 2000, "retirement attempted");
    await new Promise((r) => setTimeout(r, 10));
    expect((await inner.getKey("acme", old.key.id))?.status).toBe("revoked"); // the write landed
    expect((await introspector.introspect(old.token)).active).toBe(false);
  });
});
