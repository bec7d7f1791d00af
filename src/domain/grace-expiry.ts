import type { Clock } from "../ports/clock.js";
import type { TokenStore } from "../ports/token-store.js";
import type { AuditTrail } from "./audit-trail.js";
import { ADMIN_TENANT_ID } from "./tenant-id.js";
import type { Invalidation } from "./invalidation-hub.js";

/** At most this many grace expiries per sweep; the rest wait for the next one. */
export const GRACE_EXPIRY_BATCH = 500;

/**
 * Stores deprecated keys whose grace ended as revoked, each with exactly one `key.grace_expired`
 * event however many replicas sweep at once: the event is written FIRST, with a dedupe key (the key
 * id), so of several replicas exactly one insert succeeds and that replica logs it; then the key is
 * stored as revoked (a conditional write that changes nothing the second time). A crash between
 * the two leaves the event and a key that reads revoked anyway (reads apply the clock), stored as
 * such by the next sweep, whose event insert is then a duplicate: never a second event, never a
 * stored revocation without its event. Answers how many keys this sweep handled.
 */
export async function expireGracePeriods(deps: {
  store: TokenStore;
  audit: AuditTrail;
  clock: Clock;
  /** Tells watchers (WatchInvalidations) of each key whose grace ended. */
  publish?: ((invalidation: Invalidation) => void) | undefined;
}): Promise<number> {
  const { store, audit, clock } = deps;
  const now = clock.now();
  const due = await store.findExpiredKeys(now, GRACE_EXPIRY_BATCH);
  for (const key of due) {
    // Issue 22: expired before its grace ended: the expiry sweep (key-expiry-sweep.ts) records it.
    if (key.expiresAt !== undefined && key.expiresAt < key.revokeAt!) continue;
    await audit.recordOnce(
      {
        action: "key.grace_expired",
        actor: { kind: "service", id: "grace-sweep", tenantId: ADMIN_TENANT_ID },
        tenantId: key.tenantId,
        keyId: key.id,
        detail: `rotation grace ended at ${key.revokeAt!.toISOString()}${key.rotatedToKeyId ? ` (successor ${key.rotatedToKeyId})` : ""}`,
        dedupeKey: `key.grace_expired:${key.id}`,
      },
      { outcome: "ok", code: "OK" },
    );
    await store.revokeKey({ tenantId: key.tenantId, keyId: key.id, revokedAt: key.revokeAt! });
    deps.publish?.({ kind: "key_grace_ended", tenantId: key.tenantId, keyId: key.id });
  }
  return due.length;
}
