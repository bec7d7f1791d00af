// Issue 22: SuspendKey and ResumeKey. A suspended key is inactive (SUSPENDED) at once and on every
// instance (this instance's cache entry dropped, watchers and other instances told: the same path
// as a revoke), keeps its status (it still holds one of the tenant's active places) and its grace
// or expiry, and is made usable again by a resume. A revoked or expired key cannot be suspended or
// resumed (FAILED_PRECONDITION). Each change is one atomic conditional store write.
//
// The platform admin's suspension is the platform's hold (abuse, an incident under investigation):
// only a platform admin lifts it. A tenant admin's ResumeKey of it is PERMISSION_DENIED, inside the
// store's one write (the resume's condition), and the platform admin's SuspendKey of a key the
// tenant already suspended takes the hold over (else the tenant could lift it right after).
//
// Suspend and rotate exclude each other (review finding, session 32: a racing SuspendKey and
// RotateKey both succeeded, leaving a suspended DEPRECATED key beside an active successor that
// nobody suspended). Only an ACTIVE key is suspended and only an unsuspended one is rotated, each
// condition inside the store's one write: whichever lands first wins, the other answers
// FAILED_PRECONDITION. A rotated (DEPRECATED) key is not suspended: revoke it to end its grace now.
import { DomainError } from "./errors.js";
import { keyInactiveReason } from "./key-expiry.js";
import { effectiveKey } from "./key-rules.js";
import type { KeyRecord } from "./records.js";
import type { ServiceDeps } from "./service-deps.js";

export interface KeySuspension {
  /**
   * Suspends the key; a key already suspended is answered unchanged (`byPlatform`: unless the
   * suspension is not the platform's, which this one then replaces).
   */
  suspend(tenantId: string, keyId: string, actor: string, byPlatform?: boolean): Promise<KeyRecord>;
  /**
   * Resumes the key; a key not suspended is answered unchanged. PERMISSION_DENIED when the platform
   * admin suspended it and `byPlatform` is not set.
   */
  resume(tenantId: string, keyId: string, actor: string, byPlatform?: boolean): Promise<KeyRecord>;
}

export function createKeySuspension({ store, clock, cache, publish = () => {} }: ServiceDeps): KeySuspension {
  const notFound = (keyId: string) => new DomainError("not_found", `key_id: no key ${keyId} for this tenant`);

  /** Refuses a key that no longer works for good (revoked, its grace ended, or expired). */
  function assertLive(key: KeyRecord, keyId: string, verb: string): void {
    const ended = keyInactiveReason(key, clock.now());
    if (ended === "revoked" || ended === "expired") {
      throw new DomainError("failed_precondition", `key ${keyId} is ${ended}: a ${ended} key can never be ${verb}`);
    }
  }

  async function change(
    tenantId: string,
    keyId: string,
    verb: "suspended" | "resumed",
    byPlatform: boolean,
    write: () => Promise<KeyRecord | null>,
  ): Promise<KeyRecord> {
    const current = await store.getKey(tenantId, keyId);
    if (!current) throw notFound(keyId);
    assertLive(current, keyId, verb);
    const after = await write().finally(() => {
      cache.delete(current.tokenHash); // even on failure: the write may have landed
      publish({ kind: verb === "suspended" ? "key_suspended" : "key_resumed", tenantId, keyId });
    });
    if (!after) throw notFound(keyId);
    // Revoked between the read and the write: the conditional write changed nothing.
    assertLive(after, keyId, verb);
    // The platform's hold, and the caller not a platform admin: the write changed nothing.
    if (verb === "resumed" && after.suspendedByPlatform && !byPlatform) {
      throw new DomainError(
        "permission_denied",
        `key ${keyId} was suspended by a platform admin: only a platform admin can resume it`,
      );
    }
    // Rotated before the read or between the read and the write: the write changed nothing.
    if (verb === "suspended" && after.status === "deprecated" && after.suspendedAt === undefined) {
      throw new DomainError(
        "failed_precondition",
        `key ${keyId} was rotated${after.rotatedToKeyId ? ` to ${after.rotatedToKeyId}` : ""}: only active keys can be suspended (revoke it to end its grace now)`,
      );
    }
    return effectiveKey(after, clock.now());
  }

  return {
    suspend: (tenantId, keyId, actor, byPlatform = false) =>
      change(tenantId, keyId, "suspended", byPlatform, () =>
        store.suspendKey({ tenantId, keyId, suspendedAt: clock.now(), suspendedBy: actor, byPlatform }),
      ),
    resume: (tenantId, keyId, _actor, byPlatform = false) =>
      change(tenantId, keyId, "resumed", byPlatform, () => store.resumeKey({ tenantId, keyId, byPlatform })),
  };
}
