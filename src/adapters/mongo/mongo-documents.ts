// The MongoDB document shapes and their mapping to the domain records. Pure code: no driver calls.
//
// Every document carries `v` (its schema version) so a later migration can tell old shapes from new
// ones. Only token HASHES are stored (the records never hold a plaintext token).
//
// Optional fields are OMITTED, never written as null: the driver serializes `undefined` as BSON
// null unless `ignoreUndefined` is set, and a null would read back as a present field.
import type { AuditAction, AuditActorKind, AuditEvent, AuditOutcome } from "../../domain/audit.js";
import type { KeyRecord, SessionRecord, StoredKeyStatus, TenantPolicyRecord } from "../../domain/records.js";

export const SCHEMA_VERSION = 1 as const;

export const COLLECTIONS = {
  keys: "keys",
  sessions: "sessions",
  policies: "tenant_policies",
  audit: "audit_events",
} as const;

export interface KeyDoc {
  /** The key id (`key_` + 20 base62), globally unique. */
  _id: string;
  v: number;
  tenantId: string;
  label: string;
  tokenHash: string;
  hint: string;
  status: StoredKeyStatus;
  createdAt: Date;
  createdBy: string;
  /**
   * Only ACTIVE keys hold a slot, 0..maxActive-1; a partial unique index on {tenantId, slot} over
   * ACTIVE documents caps a tenant's active keys (see mongo-indexes.ts). Adapter bookkeeping: it
   * never reaches the domain.
   */
  slot?: number;
  /**
   * Only DEPRECATED keys made by a rotation hold a grace slot, 0..maxDeprecated-1; a partial unique
   * index on {tenantId, graceSlot} caps a tenant's deprecated keys (mongo-slots.ts). Bookkeeping too.
   */
  graceSlot?: number;
  lastUsedAt?: Date;
  revokeAt?: Date;
  revokedAt?: Date;
  revokedBy?: string;
  rotatedFromKeyId?: string;
  rotatedToKeyId?: string;
  /** Issue 22: expiry and suspension (the sweep's index: mongo-indexes.ts keys_status_expires_at). */
  expiresAt?: Date;
  suspendedAt?: Date;
  suspendedBy?: string;
  suspendedByPlatform?: true;
  retireOnFirstUse?: boolean;
  /** Issue 22: omitted when none (old documents read as unscoped, no allowlist). */
  scopes?: string[];
  allowedCidrs?: string[];
  exposure?: { type: string; source: string; url: string; reportedAt: Date; auditEventId?: string };
}

export interface SessionDoc {
  _id: string;
  v: number;
  tenantId: string;
  tokenHash: string;
  createdAt: Date;
  /** TTL-indexed (expireAfterSeconds: 0): MongoDB deletes the document some time after this instant. */
  expiresAt: Date;
  createdBy: string;
  revokedAt?: Date;
  revokedBy?: string;
  scopes?: string[];
}

export interface PolicyDoc {
  /** The tenant id. */
  _id: string;
  v: number;
  hipaaEnabled: boolean;
  /** Issue 22: absent: no maximum. */
  maxKeyLifetimeMs?: number;
  updatedAt?: Date;
  updatedBy?: string;
}

/** An audit event (mongo-audit-events.ts); `_id` is the time-ordered event id. */
export interface AuditDoc {
  _id: string;
  v: number;
  time: Date;
  action: AuditAction;
  outcome: AuditOutcome;
  code: string;
  actor: { kind: AuditActorKind; id: string; tenantId: string };
  tenantId: string;
  keyId?: string;
  sessionId?: string;
  peer?: string;
  userAgent?: string;
  protocol?: string;
  detail?: string;
  dedupeKey?: string;
  count?: number;
  firstTime?: Date;
}

const KEY_OPTIONAL = [
  "lastUsedAt",
  "revokeAt",
  "revokedAt",
  "revokedBy",
  "rotatedFromKeyId",
  "rotatedToKeyId",
  "expiresAt",
  "suspendedAt",
  "suspendedBy",
  "suspendedByPlatform",
  "retireOnFirstUse",
  "scopes",
  "allowedCidrs",
  "exposure",
] as const;

/** Copies the optional fields that hold a value (neither undefined nor null). */
function copyOptional<K extends string>(
  from: Partial<Record<K, unknown>>,
  to: Partial<Record<K, unknown>>,
  names: readonly K[],
): void {
  for (const name of names) {
    const value = from[name];
    if (value !== undefined && value !== null) to[name] = value;
  }
}

/** The document for a key record; `slot` is set by the caller when the key is ACTIVE. */
export function toKeyDoc(key: KeyRecord, slot?: number): KeyDoc {
  const doc: KeyDoc = {
    _id: key.id,
    v: SCHEMA_VERSION,
    tenantId: key.tenantId,
    label: key.label,
    tokenHash: key.tokenHash,
    hint: key.hint,
    status: key.status,
    createdAt: key.createdAt,
    createdBy: key.createdBy,
  };
  if (slot !== undefined) doc.slot = slot;
  copyOptional(key, doc, KEY_OPTIONAL);
  return doc;
}

export function fromKeyDoc(doc: KeyDoc): KeyRecord {
  const key: KeyRecord = {
    id: doc._id,
    tenantId: doc.tenantId,
    label: doc.label,
    tokenHash: doc.tokenHash,
    hint: doc.hint,
    status: doc.status,
    createdAt: doc.createdAt,
    createdBy: doc.createdBy,
  };
  copyOptional(doc, key, KEY_OPTIONAL);
  return key;
}

const SESSION_OPTIONAL = ["revokedAt", "revokedBy", "scopes"] as const;

export function toSessionDoc(session: SessionRecord): SessionDoc {
  const doc: SessionDoc = {
    _id: session.id,
    v: SCHEMA_VERSION,
    tenantId: session.tenantId,
    tokenHash: session.tokenHash,
    createdAt: session.createdAt,
    expiresAt: session.expiresAt,
    createdBy: session.createdBy,
  };
  copyOptional(session, doc, SESSION_OPTIONAL);
  return doc;
}

export function fromSessionDoc(doc: SessionDoc): SessionRecord {
  const session: SessionRecord = {
    id: doc._id,
    tenantId: doc.tenantId,
    tokenHash: doc.tokenHash,
    createdAt: doc.createdAt,
    expiresAt: doc.expiresAt,
    createdBy: doc.createdBy,
  };
  copyOptional(doc, session, SESSION_OPTIONAL);
  return session;
}

const POLICY_OPTIONAL = ["maxKeyLifetimeMs", "updatedAt", "updatedBy"] as const;

export function toPolicyDoc(policy: TenantPolicyRecord): PolicyDoc {
  const doc: PolicyDoc = { _id: policy.tenantId, v: SCHEMA_VERSION, hipaaEnabled: policy.hipaaEnabled };
  copyOptional(policy, doc, POLICY_OPTIONAL);
  return doc;
}

export function fromPolicyDoc(doc: PolicyDoc): TenantPolicyRecord {
  const policy: TenantPolicyRecord = { tenantId: doc._id, hipaaEnabled: doc.hipaaEnabled };
  copyOptional(doc, policy, POLICY_OPTIONAL);
  return policy;
}

const AUDIT_OPTIONAL = [
  "keyId",
  "sessionId",
  "peer",
  "userAgent",
  "protocol",
  "detail",
  "dedupeKey",
  "count",
  "firstTime",
] as const;

export function toAuditDoc(e: AuditEvent): AuditDoc {
  const doc: AuditDoc = {
    _id: e.id,
    v: SCHEMA_VERSION,
    time: e.time,
    action: e.action,
    outcome: e.outcome,
    code: e.code,
    actor: { kind: e.actor.kind, id: e.actor.id, tenantId: e.actor.tenantId },
    tenantId: e.tenantId,
  };
  copyOptional(e, doc, AUDIT_OPTIONAL);
  return doc;
}

export function fromAuditDoc(doc: AuditDoc): AuditEvent {
  const e: AuditEvent = {
    id: doc._id,
    time: doc.time,
    action: doc.action,
    outcome: doc.outcome,
    code: doc.code,
    actor: { kind: doc.actor.kind, id: doc.actor.id, tenantId: doc.actor.tenantId },
    tenantId: doc.tenantId,
  };
  copyOptional(doc, e, AUDIT_OPTIONAL);
  return e;
}
