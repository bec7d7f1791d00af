// Issue 22, "retire on first use" (Paddle's model): a rotation may ask that the old key's grace end
// the first time the new key is introspected. The introspector calls `retire` with the successor
// when it answers it active; the predecessor is then stored as REVOKED by one conditional store
// write (store.retirePredecessor), which exactly one caller wins however many instances see their
// first use at once; that caller records `key.grace_expired` (dedupe key: the predecessor's id, as
// the grace sweep does), drops its own cache entries and tells watchers (KEY_GRACE_ENDED; other
// instances also see the status change on the MongoDB change feed). Fire and forget: Introspect
// never waits for it. A write that fails drops the successor's cache entry, so a later
// introspection tries again; until then the old key stays within its grace (never beyond it).
import type { Clock } from "../ports/clock.js";
import type { TokenStore } from "../ports/token-store.js";
import type { AuditTrail } from "./audit-trail.js";
import type { Invalidation } from "./invalidation-hub.js";
import type { KeyRecord } from "./records.js";
import { ADMIN_TENANT_ID } from "./tenant-id.js";
import type { TokenCache } from "./token-cache.js";

export const RETIRED_BY = "system:retired-on-first-use";
/** Successors this instance already retired the predecessor of (bounded: cleared when full). */
const DONE_MAX = 10_000;

export function createFirstUseRetirement(deps: {
  store: TokenStore;
  clock: Clock;
  cache: TokenCache;
  audit: () => AuditTrail;
  publish?: ((invalidation: Invalidation) => void) | undefined;
  onError?: (err: unknown) => void;
}): (successor: KeyRecord) => void {
  const { store, clock, cache } = deps;
  const busy = new Set<string>();
  const done = new Set<string>();

  async function run(successor: KeyRecord, predecessorId: string): Promise<void> {
    const at = clock.now();
    const retired = await store
      .retirePredecessor({
        tenantId: successor.tenantId,
        successorId: successor.id,
        predecessorId,
        at,
        revokedBy: RETIRED_BY,
      })
      .finally(() => cache.deleteKey(predecessorId)); // even on failure: the write may have landed
    if (!retired) return; // another instance did, or the grace had ended, or the key was revoked
    deps.publish?.({ kind: "key_grace_ended", tenantId: successor.tenantId, keyId: predecessorId });
    await deps.audit().recordOnce(
      {
        action: "key.grace_expired",
        actor: { kind: "service", id: "retire-on-first-use", tenantId: ADMIN_TENANT_ID },
        tenantId: successor.tenantId,
        keyId: predecessorId,
        detail: `rotation grace ended at ${at.toISOString()}: first use of successor ${successor.id}`,
        dedupeKey: `key.grace_expired:${predecessorId}`,
      },
      { outcome: "ok", code: "OK" },
    );
  }

  return (successor) => {
    const predecessorId = successor.rotatedFromKeyId;
    if (!successor.retireOnFirstUse || predecessorId === undefined) return;
    if (busy.has(successor.id) || done.has(successor.id)) return;
    busy.add(successor.id);
    run(successor, predecessorId).then(
      () => {
        busy.delete(successor.id);
        if (done.size >= DONE_MAX) done.clear();
        done.add(successor.id);
      },
      (err: unknown) => {
        busy.delete(successor.id);
        cache.deleteKey(successor.id); // the next introspection reads it again and retries
        deps.onError?.(err);
      },
    );
  };
}
