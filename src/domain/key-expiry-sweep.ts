import type { Clock } from "../ports/clock.js";
import type { TokenStore } from "../ports/token-store.js";
import type { AuditTrail } from "./audit-trail.js";
import { ADMIN_TENANT_ID } from "./tenant-id.js";
import type { Invalidation } from "./invalidation-hub.js";
import type { KeyRecord } from "./records.js";

/** At most this many expiries per sweep; the rest wait for the next one. */
export const KEY_EXPIRY_BATCH = 500;

/**
 * Issue 22: stores keys whose expiry passed as revoked (revokedAt = expiresAt, which frees their
 * active place), each with exactly one `key.expired` event however many replicas sweep at once,
 * the way grace-expiry.ts records `key.grace_expired`: the event first, with a dedupe key (the key
 * id), so exactly one replica's insert succeeds; then the conditional revoke (a no-op the second
 * time). Reads never wait for this: a key is EXPIRED from its expiresAt (key-expiry.ts). A
 * deprecated key whose grace ended first is left to the grace sweep (its end was the grace's).
 * Answers how many keys this sweep handled.
 */
export interface ExpiryDeps {
  store: TokenStore;
  audit: AuditTrail;
  clock: Clock;
  publish?: ((invalidation: Invalidation) => void) | undefined;
}

export async function expireKeys(deps: ExpiryDeps): Promise<number> {
  return expireDue(deps, await deps.store.findKeysPastExpiry(deps.clock.now(), KEY_EXPIRY_BATCH));
}

/**
 * The same for one tenant's keys, at once: CreateKey calls it when the tenant is at its 3 active
 * keys, so keys that expired since the last sweep free their places without waiting for it.
 */
export async function expireTenantKeys(deps: ExpiryDeps, tenantId: string): Promise<number> {
  const now = deps.clock.now();
  const keys = await deps.store.listKeys(tenantId, 0);
  return expireDue(
    deps,
    keys.filter((k) => k.status !== "revoked" && k.expiresAt !== undefined && k.expiresAt <= now),
  );
}

async function expireDue(deps: ExpiryDeps, due: KeyRecord[]): Promise<number> {
  const { store, audit } = deps;
  let handled = 0;
  for (const key of due) {
    const expiresAt = key.expiresAt!;
    if (key.status === "deprecated" && key.revokeAt !== undefined && key.revokeAt <= expiresAt) continue;
    await audit.recordOnce(
      {
        action: "key.expired",
        actor: { kind: "service", id: "expiry-sweep", tenantId: ADMIN_TENANT_ID },
        tenantId: key.tenantId,
        keyId: key.id,
        detail: `expired at ${expiresAt.toISOString()}`,
        dedupeKey: `key.expired:${key.id}`,
      },
      { outcome: "ok", code: "OK" },
    );
    await store.revokeKey({ tenantId: key.tenantId, keyId: key.id, revokedAt: expiresAt });
    // Cached answers already ended at expiresAt; watchers drop the key's entries (not final: the
    // answer is EXPIRED, not REVOKED).
    deps.publish?.({ kind: "key_changed", tenantId: key.tenantId, keyId: key.id });
    handled++;
  }
  return handled;
}
