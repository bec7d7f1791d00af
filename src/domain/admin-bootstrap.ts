import type { Clock } from "../ports/clock.js";
import type { TokenStore } from "../ports/token-store.js";
import { completeAfter, type AuditTrail } from "./audit-trail.js";
import { DomainError } from "./errors.js";
import type { IssuedKey, KeyService } from "./key-service.js";
import { ADMIN_TENANT_ID } from "./tenant-id.js";
import { generateToken } from "./token-format.js";
import { hashToken } from "./token-hash.js";

/**
 * First admin key, when the store holds no usable admin key. The plaintext is saved (`save`: the
 * admin key file) BEFORE the key is stored, so there is never a stored admin key that nobody
 * holds: if saving fails, nothing is stored. If the store write fails without an answer, the key
 * may have landed: it is looked up by its hash and the insert retried until the store says which.
 * With `audit`, a pending `admin_key.create` event (actor: the service) is stored before anything
 * else and completed at the end. Returns the new key, or null when a usable admin key already existed.
 */
export async function ensureAdminKey(deps: {
  store: TokenStore;
  clock: Clock;
  keys: KeyService;
  save: (token: string) => Promise<void>;
  retryDelayMs?: number;
  stopped?: () => boolean;
  audit?: AuditTrail | undefined;
}): Promise<IssuedKey | null> {
  const { store, clock, keys, save, audit } = deps;
  if (await store.hasUsableKey(ADMIN_TENANT_ID, clock.now())) return null;
  const pending = await audit?.begin({
    action: "admin_key.create",
    actor: { kind: "service", id: "bootstrap", tenantId: ADMIN_TENANT_ID },
    tenantId: ADMIN_TENANT_ID,
    detail: "bootstrap admin key (no usable admin key existed)",
  });
  return completeAfter(pending, () => createSaved(deps), (issued) => ({ keyId: issued.key.id }));
}

async function createSaved(deps: Parameters<typeof ensureAdminKey>[0]): Promise<IssuedKey> {
  const { store, keys, save, retryDelayMs = 500, stopped = () => false } = deps;
  const token = generateToken("api_key", ADMIN_TENANT_ID);
  await save(token);
  for (;;) {
    try {
      return await keys.create(ADMIN_TENANT_ID, "bootstrap admin key", "bootstrap", { token });
    } catch (err) {
      // Unknown outcome (UNAVAILABLE), or a retry that hit our own landed write (duplicate hash):
      // ask the store whether the key is there.
      if (err instanceof DomainError && err.code !== "unavailable") throw err;
      for (;;) {
        if (stopped()) throw err;
        await new Promise((r) => setTimeout(r, retryDelayMs).unref());
        try {
          const landed = await store.findKeyByHash(hashToken(token));
          if (landed) return { token, key: landed };
          break; // not there: insert again
        } catch {
          // the store still cannot answer: ask again
        }
      }
    }
  }
}
