import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { KeyStatus, type ApiKey, type TenantPolicy } from "../gen/warpflow/auth/v1/token_service_pb.js";

/** Human-readable output for the admin CLI (--json prints the proto JSON instead). */
const time = (t: Timestamp | undefined) => (t ? timestampDate(t).toISOString() : "-");
const status = (s: KeyStatus) => KeyStatus[s]?.toLowerCase() ?? "unknown";

export function formatKey(k: ApiKey): string {
  const lines = [
    `${k.id}  ${status(k.status)}  ${k.hint}  "${k.label}"`,
    `  tenant ${k.tenantId}, created ${time(k.createdAt)} by ${k.createdBy || "-"}, last used ${time(k.lastUsedAt)}`,
  ];
  if (k.revokeAt) lines.push(`  revoked automatically at ${time(k.revokeAt)} (rotated to ${k.rotatedToKeyId || "-"})`);
  if (k.revokedAt) lines.push(`  revoked at ${time(k.revokedAt)}${k.revokedBy ? ` by ${k.revokedBy}` : ""}`);
  return lines.join("\n");
}

export function formatSecret(label: string, token: string): string {
  return `${label} (shown only once, store it now):\n  ${token}`;
}

export function formatPolicy(p: TenantPolicy | undefined): string {
  return p ? `tenant ${p.tenantId}: hipaa_enabled=${p.hipaaEnabled} (updated ${time(p.updatedAt)})` : "no policy";
}

export function formatTime(t: Timestamp | undefined): string {
  return time(t);
}
