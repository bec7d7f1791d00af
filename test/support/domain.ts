import { createMemoryTokenStore } from "../../src/adapters/memory/memory-token-store.js";
import { createIntrospector } from "../../src/domain/introspector.js";
import { createKeyService } from "../../src/domain/key-service.js";
import { createLastUsedRecorder } from "../../src/domain/last-used-recorder.js";
import { createPolicyService } from "../../src/domain/policy-service.js";
import { createSessionService } from "../../src/domain/session-service.js";
import { createTokenCache, type TokenCacheOptions } from "../../src/domain/token-cache.js";
import { disabledJwtVerifier, type JwtVerifier } from "../../src/ports/jwt-verifier.js";
import type { TokenStore } from "../../src/ports/token-store.js";
import { createManualClock } from "./manual-clock.js";

/** The domain wired on a store (memory by default) with a manual clock: no transport. */
export function createDomain(opts: { store?: TokenStore; cache?: Partial<TokenCacheOptions>; jwt?: JwtVerifier } = {}) {
  const store = opts.store ?? createMemoryTokenStore();
  const clock = createManualClock();
  const cache = createTokenCache({ ttlMs: 60_000, ...opts.cache });
  const lastUsed = createLastUsedRecorder(store, { flushIntervalMs: 60_000 });
  const introspector = createIntrospector({ store, clock, cache, lastUsed, jwt: opts.jwt ?? disabledJwtVerifier });
  const sessions = createSessionService({ store, clock, cache });
  const keys = createKeyService({ store, clock, cache, lastUsed, sessions });
  const policies = createPolicyService({ store, clock, cache });
  return { store, clock, cache, lastUsed, introspector, keys, sessions, policies };
}
