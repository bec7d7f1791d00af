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
  /** Set when the platform admin suspended the key: only a platform admin may resume it. */
  suspendedByPlatform?: true | undefined;
  /** Issue 22: a successor whose first introspection ends its predecessor's grace; cleared once it has. */
  retireOnFirstUse?: boolean | undefined;
  /** Scopes (issue 22); absent: full tenant access. Never an empty list. */
  scopes?: string[] | undefined;
  /** IP allowlist, normalised CIDRs (issue 22); absent: any address. Never an empty list. */
  allowedCidrs?: string[] | undefined;
  /** Set when a secret scanner reported the key in public and it was revoked for that (issue 24). */
  exposure?: KeyExposure | undefined;
}

/** A secret-scanning report that revoked a key: the scanner's own words, bounded; never the token. */
export interface KeyExposure {
  type: string;
  source: string;
  url: string;
  reportedAt: Date;
  /** The key.exposed audit event of the revoke (tells which of two racing reports revoked the key). */
  auditEventId?: string | undefined;
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
  /** Scopes (issue 22); absent: full tenant access. Never an empty list. */
  scopes?: string[] | undefined;
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
