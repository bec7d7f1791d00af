// The records the domain keeps. Stores persist exactly these fields (plus their own bookkeeping);
// `tokenHash` is the SHA-256 of the token, never the token.
export type StoredKeyStatus = "active" | "deprecated" | "revoked";

export interface KeyRecord {
  id: string;
  tenantId: string;
  label: string;
  tokenHash: string;
  hint: string;
  status: StoredKeyStatus;
  createdAt: Date;
  createdBy: string;
  lastUsedAt?: Date | undefined;
  /** Deprecated keys: end of the grace period. */
  revokeAt?: Date | undefined;
  revokedAt?: Date | undefined;
  revokedBy?: string | undefined;
  rotatedFromKeyId?: string | undefined;
  rotatedToKeyId?: string | undefined;
  /** Issue 22: the key is inactive (EXPIRED) from this instant; absent: never expires. */
  expiresAt?: Date | undefined;
  /** Issue 22: set while suspended (SuspendKey), with who suspended it; ResumeKey removes both. */
  suspendedAt?: Date | undefined;
  suspendedBy?: string | undefined;
  /** Issue 22: a successor whose first introspection ends its predecessor's grace; cleared once it has. */
  retireOnFirstUse?: boolean | undefined;
}

export interface SessionRecord {
  id: string;
  tenantId: string;
  tokenHash: string;
  createdAt: Date;
  expiresAt: Date;
  createdBy: string;
  /** Set once revoked (RevokeSession, RevokeTenantSessions). */
  revokedAt?: Date | undefined;
  revokedBy?: string | undefined;
}

export interface TenantPolicyRecord {
  tenantId: string;
  hipaaEnabled: boolean;
  /** Issue 22: the longest lifetime a new key may have (ms); absent: no maximum. */
  maxKeyLifetimeMs?: number | undefined;
  updatedAt?: Date | undefined;
  updatedBy?: string | undefined;
}

export const defaultPolicy = (tenantId: string): TenantPolicyRecord => ({
  tenantId,
  hipaaEnabled: false,
});
