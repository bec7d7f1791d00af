// The state a key is in for Introspect, as the CLI shows it: the stored status, with a deprecated key
// past its grace counted as revoked and any live key of a HIPAA tenant as inactive by tenant policy
// (Introspect answers inactive, tenant_policy, while ListKeys still says ACTIVE).
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { ADMIN_TENANT_ID } from "../domain/tenant-id.js";
import { KeyStatus, type ApiKey, type TenantPolicy } from "../gen/warpflow/auth/v1/token_service_pb.js";

/** active, deprecated, revoked, inactive_tenant_policy, or the lower-cased name of a status this CLI does not know yet. */
export type EffectiveState = string;

export interface KeyState {
  state: EffectiveState;
  /** When the state ends (deprecated: the end of the grace) or began (revoked, expired, suspended). */
  at?: Date;
  /** Revoked because a secret scanner reported it in public (issue 24): where. */
  exposed?: { source: string; url: string };
  /** Issue 22: when the key expires, if it has an expiry. */
  expiresAt?: Date;
}

export function keyState(key: ApiKey, policy: TenantPolicy | undefined, now: Date): KeyState {
  const revokeAt = key.revokeAt ? timestampDate(key.revokeAt) : undefined;
  const revokedAt = key.revokedAt ? timestampDate(key.revokedAt) : undefined;
  // Issue 22: expired (its expiry came before any revocation or grace end), then suspended.
  const expiresAt = key.expiresAt ? timestampDate(key.expiresAt) : undefined;
  const endedAt =
    key.status === KeyStatus.REVOKED ? revokedAt : key.status === KeyStatus.DEPRECATED ? revokeAt : undefined;
  if (expiresAt && expiresAt <= now && (endedAt === undefined || endedAt >= expiresAt))
    return { state: "expired", at: expiresAt };
  const s = baseState(key, policy, now, revokeAt, revokedAt);
  if (key.suspendedAt && (s.state === "active" || s.state === "deprecated" || s.state === "inactive_tenant_policy"))
    return { state: "suspended", at: timestampDate(key.suspendedAt), expiresAt };
  return expiresAt ? { ...s, expiresAt } : s;
}

function baseState(
  key: ApiKey,
  policy: TenantPolicy | undefined,
  now: Date,
  revokeAt: Date | undefined,
  revokedAt: Date | undefined,
): KeyState {
  if (key.status === KeyStatus.REVOKED)
    return key.exposure
      ? { state: "revoked", at: revokedAt, exposed: { source: key.exposure.source, url: key.exposure.url } }
      : { state: "revoked", at: revokedAt };
  if (key.status === KeyStatus.DEPRECATED && revokeAt && revokeAt <= now) return { state: "revoked", at: revokeAt };
  if (policy?.hipaaEnabled && key.tenantId !== ADMIN_TENANT_ID) return { state: "inactive_tenant_policy" };
  if (key.status === KeyStatus.DEPRECATED) return { state: "deprecated", at: revokeAt };
  if (key.status === KeyStatus.ACTIVE) return { state: "active" };
  return { state: (KeyStatus[key.status] ?? "unknown").toLowerCase() };
}
