import type { Clock } from "../ports/clock.js";
import type { TokenStore } from "../ports/token-store.js";
import type { IssuedKey, KeyService } from "./key-service.js";
import { ADMIN_TENANT_ID } from "./tenant-id.js";

/**
 * First admin key: when the store holds no usable admin key, create one. Returns it (plaintext
 * included, for the caller to write to the admin key file) or null when one already exists.
 */
export async function ensureAdminKey(deps: { store: TokenStore; clock: Clock; keys: KeyService }): Promise<IssuedKey | null> {
  if (await deps.store.hasUsableKey(ADMIN_TENANT_ID, deps.clock.now())) return null;
  return deps.keys.create(ADMIN_TENANT_ID, "bootstrap admin key", "bootstrap");
}
