import { create } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import type {
  InactiveReason as DomainInactiveReason,
  Introspection,
  TokenType as DomainTokenType,
} from "../domain/introspection.js";
import type { KeyRecord, TenantPolicyRecord } from "../domain/records.js";
import {
  ApiKeySchema,
  InactiveReason,
  KeyStatus,
  TenantPolicySchema,
  TokenType,
  type ApiKey,
  type IntrospectResponse,
  type TenantPolicy,
} from "../gen/warpflow/auth/v1/token_service_pb.js";
import type { KeyStatus as DomainKeyStatus } from "../domain/key-rules.js";

/** Domain values -> proto messages. No rules here, only shape. */
const ts = (d: Date | undefined): Timestamp | undefined => (d ? timestampFromDate(d) : undefined);

const TOKEN_TYPES: Record<DomainTokenType, TokenType> = {
  api_key: TokenType.API_KEY,
  session: TokenType.SESSION,
  cognito: TokenType.COGNITO,
};

const REASONS: Record<DomainInactiveReason, InactiveReason> = {
  malformed: InactiveReason.MALFORMED,
  not_found: InactiveReason.NOT_FOUND,
  revoked: InactiveReason.REVOKED,
  expired: InactiveReason.EXPIRED,
  tenant_policy: InactiveReason.TENANT_POLICY,
  tenant_mismatch: InactiveReason.TENANT_MISMATCH,
  unverified: InactiveReason.UNVERIFIED,
  unsupported: InactiveReason.UNSUPPORTED,
  insufficient_scope: InactiveReason.INSUFFICIENT_SCOPE,
  address_not_allowed: InactiveReason.ADDRESS_NOT_ALLOWED,
  suspended: InactiveReason.SUSPENDED,
};

const STATUSES: Record<DomainKeyStatus, KeyStatus> = {
  active: KeyStatus.ACTIVE,
  deprecated: KeyStatus.DEPRECATED,
  revoked: KeyStatus.REVOKED,
};

/**
 * Built as a literal rather than with create(): the same plain object create() returns for this
 * proto3 message (every field, $typeName, no prototype), without the reflective walk; it runs on
 * every Introspect (test/unit/introspect-codec.test.ts checks it against create()).
 */
export function toIntrospectResponse(r: Introspection): IntrospectResponse {
  if (!r.active) {
    return {
      $typeName: "warpflow.auth.v1.IntrospectResponse",
      active: false,
      tokenType: TokenType.UNSPECIFIED,
      tenantId: "",
      keyId: "",
      sessionId: "",
      deprecated: false,
      admin: false,
      inactiveReason: REASONS[r.reason],
      subject: "",
      groups: [],
      email: "",
      username: "",
      scopes: [],
    };
  }
  const m: IntrospectResponse = {
    $typeName: "warpflow.auth.v1.IntrospectResponse",
    active: true,
    tokenType: TOKEN_TYPES[r.tokenType],
    tenantId: r.tenantId,
    keyId: r.keyId ?? "",
    sessionId: r.sessionId ?? "",
    deprecated: r.deprecated,
    admin: r.admin,
    inactiveReason: InactiveReason.UNSPECIFIED,
    subject: r.subject ?? "",
    groups: r.groups ? [...r.groups] : [],
    email: r.email ?? "",
    username: r.username ?? "",
    scopes: r.scopes ? [...r.scopes] : [],
  };
  // Like create(): an unset message field is absent, not a key holding undefined.
  if (r.expiresAt) m.expiresAt = timestampFromDate(r.expiresAt);
  return m;
}

/** `key` must already be the effective view (grace expiry applied). */
export function toApiKey(key: KeyRecord): ApiKey {
  return create(ApiKeySchema, {
    id: key.id,
    tenantId: key.tenantId,
    label: key.label,
    status: STATUSES[key.status],
    createdAt: ts(key.createdAt),
    lastUsedAt: ts(key.lastUsedAt),
    revokeAt: ts(key.revokeAt),
    revokedAt: ts(key.revokedAt),
    hint: key.hint,
    createdBy: key.createdBy,
    revokedBy: key.revokedBy ?? "",
    rotatedFromKeyId: key.rotatedFromKeyId ?? "",
    rotatedToKeyId: key.rotatedToKeyId ?? "",
    scopes: key.scopes ?? [],
    allowedCidrs: key.allowedCidrs ?? [],
    exposure: key.exposure && {
      type: key.exposure.type,
      source: key.exposure.source,
      url: key.exposure.url,
      reportedAt: ts(key.exposure.reportedAt),
      auditEventId: key.exposure.auditEventId ?? "",
    },
    expiresAt: ts(key.expiresAt),
    suspendedAt: ts(key.suspendedAt),
    suspendedBy: key.suspendedBy ?? "",
    retireOnFirstUse: key.retireOnFirstUse === true,
  });
}

export function toTenantPolicy(p: TenantPolicyRecord): TenantPolicy {
  return create(TenantPolicySchema, {
    tenantId: p.tenantId,
    hipaaEnabled: p.hipaaEnabled,
    updatedAt: ts(p.updatedAt),
    maxKeyLifetime: p.maxKeyLifetimeMs === undefined ? undefined : durationFromMs(p.maxKeyLifetimeMs),
  });
}
