import type { TokenStore } from "../ports/token-store.js";

export type StoreCall = (...args: unknown[]) => Promise<unknown>;

/**
 * A decorator of the store port: `wrap` gets each method's name and the bound method and returns
 * its replacement (the timeout and metrics decorators are built on this).
 */
export function wrapStore(store: TokenStore, wrap: (name: keyof TokenStore, call: StoreCall) => StoreCall): TokenStore {
  const wrapped = {} as Record<string, StoreCall>;
  for (const name of Object.keys(store) as (keyof TokenStore)[]) {
    wrapped[name] = wrap(name, (store[name] as StoreCall).bind(store));
  }
  return wrapped as unknown as TokenStore;
}
