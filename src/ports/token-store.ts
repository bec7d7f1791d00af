// The store port. Every state change is one atomic conditional operation in the adapter; the
// domain never reads-then-writes to enforce an invariant. Adapters throw StoreUnavailableError
// when they cannot answer. The contract every adapter obeys is test/contract/token-store.contract.ts.
import type { KeyExposure, KeyRecord, SessionRecord, TenantPolicyRecord } from "../domain/records.js";
import type { AuditStore } from "./audit-store.js";
import type { LeaseStore } from "./lease-store.js";

/** The fields of a tenant policy a partial setPolicy may set (issue 22). */
export type PolicyField = "hipaaEnabled" | "maxKeyLifetimeMs";

export type InsertKeyResult = { ok: true; key: KeyRecord } | { ok: false; reason: "limit" };

export type RotateKeyResult =
  | { ok: true; previous: KeyRecord; key: KeyRecord }
  /**
   * limit: no active place for the successor (a concurrent insert took the one the old key left).
   * deprecated_limit: the tenant already holds `maxDeprecated` DEPRECATED keys in their grace
   * (revokeAt > now); nothing was changed.
   * suspended: the key is ACTIVE but suspended (the same conditional write that deprecates it
   * requires it not suspended, so a racing SuspendKey and RotateKey never both take effect).
   */
  | { ok: false; reason: "not_found" | "not_active" | "suspended" | "limit" | "deprecated_limit" };

/**
 * How far behind its newest recorded use a key's stored lastUsedAt may be: a store may skip a use
 * less than this much newer than the stored value (MongoDB does, to keep busy keys from writing on
 * every flush of every instance). The recorder's flush interval comes on top.
 */
export const LAST_USED_COARSENESS_MS = 1000;

/** A session by its ids (never a token or a hash). */
export interface SessionRef {
  tenantId: string;
  sessionId: string;
}

export interface KeyUse {
  keyId: string;
  at: Date;
}

export interface TokenStore extends AuditStore, LeaseStore {
  /** Inserts an active key unless the tenant already has `maxActive` active keys (race-free). */
  insertKey(key: KeyRecord, maxActive: number): Promise<InsertKeyResult>;
  /**
   * Atomically moves the key `keyId` of `tenantId` from ACTIVE and not suspended to DEPRECATED
   * (revokeAt, rotatedTo) and inserts `successor` as ACTIVE. Exactly one of several concurrent rotations of one key
   * succeeds. Never leaves more than `maxActive` active keys, nor a deprecated key without its
   * successor when it reports ok. Never leaves more than `maxDeprecated` DEPRECATED keys of the
   * tenant in their grace at `now` (race-free, like the active limit): a deprecated key whose
   * revokeAt <= now no longer counts, whether or not the sweep has stored it as REVOKED.
   */
  rotateKey(args: {
    tenantId: string;
    keyId: string;
    successor: KeyRecord;
    revokeAt: Date;
    maxActive: number;
    maxDeprecated: number;
    now: Date;
  }): Promise<RotateKeyResult>;
  /**
   * Moves a non-revoked key to REVOKED with `revokedAt`/`revokedBy`. A key that is already
   * REVOKED is returned unchanged. Returns null when the key does not exist for this tenant.
   * With `exposure` (issue 24), the same one write stores it on the key it revokes (never on a key
   * that was already REVOKED).
   */
  revokeKey(args: {
    tenantId: string;
    keyId: string;
    revokedAt: Date;
    revokedBy?: string | undefined;
    exposure?: KeyExposure | undefined;
  }): Promise<KeyRecord | null>;
  findKeyByHash(tokenHash: string): Promise<KeyRecord | null>;
  getKey(tenantId: string, keyId: string): Promise<KeyRecord | null>;
  /**
   * A tenant's keys, newest first: every key not stored as REVOKED (so a long-lived active key is
   * never pushed out by history), plus the newest `revokedLimit` REVOKED keys.
   */
  listKeys(tenantId: string, revokedLimit: number): Promise<KeyRecord[]>;
  /** Does the tenant have a key that is ACTIVE, or DEPRECATED with revokeAt > now? */
  hasUsableKey(tenantId: string, now: Date): Promise<boolean>;
  /**
   * Records key uses; lastUsedAt only ever moves forward (an older time never overwrites a newer).
   * A use more than LAST_USED_COARSENESS_MS newer than the stored value is always stored; one
   * within it may be skipped.
   */
  recordKeyUses(uses: readonly KeyUse[]): Promise<void>;

  insertSession(session: SessionRecord): Promise<void>;
  /** Deletes sessions whose expiresAt <= now (reads check expiry themselves; this only frees space). */
  deleteExpiredSessions(now: Date): Promise<number>;
  findSessionByHash(tokenHash: string): Promise<SessionRecord | null>;

  // --- Session revocation and grace expiry (issue 12) ---
  /**
   * Marks a session revoked (revokedAt, revokedBy). An already revoked session is returned
   * unchanged. Returns null when the session does not exist for this tenant.
   */
  revokeSession(args: {
    tenantId: string;
    sessionId: string;
    revokedAt: Date;
    revokedBy: string;
  }): Promise<SessionRecord | null>;
  /**
   * Revokes every session of the tenant not revoked, not expired at `revokedAt` and created at or
   * before it (a session created while the revoke runs, by any instance, is unaffected); answers
   * how many. A store that cannot finish throws PartialRevocationError (UNAVAILABLE) with the
   * number it revoked; calling again revokes the rest.
   */
  revokeTenantSessions(args: { tenantId: string; revokedAt: Date; revokedBy: string }): Promise<number>;
  /**
   * Revokes every session whose createdBy is `createdBy` (an admin key's id: RevokeKey of that key),
   * on every tenant, that is not revoked and not expired at `revokedAt`, whenever it was created (the
   * creator is being revoked: a session it minted while this runs goes too); answers how many this
   * call revoked. `onRevoked` is called after each write with the sessions it covered (each revoked
   * by then, by this call or a concurrent one), for the invalidations. A store that cannot finish
   * throws PartialRevocationError (UNAVAILABLE) with the number it revoked; calling again revokes the rest.
   */
  revokeSessionsCreatedBy(args: {
    createdBy: string;
    revokedAt: Date;
    revokedBy: string;
    onRevoked?: ((sessions: readonly SessionRef[]) => void) | undefined;
  }): Promise<number>;
  /** DEPRECATED keys whose revokeAt <= now, oldest revokeAt first, at most `limit`. */
  findExpiredKeys(now: Date, limit: number): Promise<KeyRecord[]>;

  /** The tenant's policy, or null when none was ever set. */
  getPolicy(tenantId: string): Promise<TenantPolicyRecord | null>;
  /**
   * Stores the policy and answers what is stored. With `fields` (issue 22), one atomic write sets
   * only those fields (and updatedAt/updatedBy), keeping the others (a missing policy starts from
   * the default); an undefined maxKeyLifetimeMs named in `fields` removes the maximum.
   */
  setPolicy(policy: TenantPolicyRecord, fields?: readonly PolicyField[]): Promise<TenantPolicyRecord>;

  // --- Issue 22: expiry, suspend and resume ---
  /**
   * Sets suspendedAt/suspendedBy on an ACTIVE key not suspended (one atomic conditional write: a
   * key rotated meanwhile, DEPRECATED, is not suspended); answers the key as stored afterwards
   * (unchanged when not ACTIVE or already suspended), null when it does not exist for this tenant.
   * `byPlatform`: the platform admin's suspension, also set as suspendedByPlatform, and taking over
   * a suspension that is not already the platform's (the tenant could lift it otherwise).
   */
  suspendKey(args: {
    tenantId: string;
    keyId: string;
    suspendedAt: Date;
    suspendedBy: string;
    byPlatform?: boolean | undefined;
  }): Promise<KeyRecord | null>;
  /**
   * Removes suspendedAt/suspendedBy/suspendedByPlatform from a suspended key not stored as REVOKED
   * and, unless `byPlatform`, not suspended by the platform (atomic); answers as suspendKey.
   */
  resumeKey(args: { tenantId: string; keyId: string; byPlatform?: boolean | undefined }): Promise<KeyRecord | null>;
  /**
   * Retire on first use: stores `predecessorId` as REVOKED at `at` (revokedBy `revokedBy`, its
   * grace slot freed) if it is still DEPRECATED, rotated to `successorId` and in its grace at `at`
   * (one conditional write: of several concurrent callers exactly one gets true), then clears the
   * successor's retireOnFirstUse. Answers whether this call retired it.
   */
  retirePredecessor(args: {
    tenantId: string;
    successorId: string;
    predecessorId: string;
    at: Date;
    revokedBy: string;
  }): Promise<boolean>;
  /** ACTIVE or DEPRECATED keys whose expiresAt <= now, earliest expiresAt first, at most `limit`. */
  findKeysPastExpiry(now: Date, limit: number): Promise<KeyRecord[]>;

  /** Resolves when the store can answer; rejects with StoreUnavailableError otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
