// What the stateful domain services (keys, sessions, policies) are built on: the store, the clock,
// the hot-path cache they invalidate, and the invalidation stream they tell of every change.
import type { Clock } from "../ports/clock.js";
import type { TokenStore } from "../ports/token-store.js";
import type { Invalidation } from "./invalidation-hub.js";
import type { TokenCache } from "./token-cache.js";

export interface ServiceDeps {
  store: TokenStore;
  clock: Clock;
  cache: TokenCache;
  /** Tells watchers (WatchInvalidations) of every change a cached answer may depend on. */
  publish?: ((invalidation: Invalidation) => void) | undefined;
}
