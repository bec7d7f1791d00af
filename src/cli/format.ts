// Human-readable output for the admin CLI (--json prints the proto JSON instead). Every string that
// came from the server goes through `safe`: control and bidi characters are printed as visible
// escapes (\x1b, \x0d, \u202e), so a hostile label, actor or user agent cannot clear the screen,
// forge a line or hide one.
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { KeyStatus, type ApiKey, type TenantPolicy } from "../gen/warpflow/auth/v1/token_service_pb.js";

import { escapeUnprintable } from "../domain/printable.js";

export const safe = (text: string): string => escapeUnprintable(text);

/** JSON text with C1, DEL and bidi characters as \uXXXX too (JSON.stringify leaves them raw). */
export const escapeJsonText = (json: string): string =>
  json.replace(
    /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/gu,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );

const time = (t: Timestamp | undefined) => (t ? timestampDate(t).toISOString() : "-");
const status = (s: KeyStatus) => KeyStatus[s]?.toLowerCase() ?? "unknown";

export function formatKey(k: ApiKey): string {
  const lines = [
    `${safe(k.id)}  ${status(k.status)}  ${safe(k.hint)}  "${safe(k.label)}"`,
    `  tenant ${safe(k.tenantId)}, created ${time(k.createdAt)} by ${safe(k.createdBy) || "-"}, last used ${time(k.lastUsedAt)}`,
  ];
  if (k.revokeAt)
    lines.push(`  revoked automatically at ${time(k.revokeAt)} (rotated to ${safe(k.rotatedToKeyId) || "-"})`);
  if (k.revokedAt) lines.push(`  revoked at ${time(k.revokedAt)}${k.revokedBy ? ` by ${safe(k.revokedBy)}` : ""}`);
  return lines.join("\n");
}

export function formatSecret(label: string, token: string): string {
  return `${label} (shown only once, store it now):\n  ${safe(token)}`;
}

export function formatPolicy(p: TenantPolicy | undefined): string {
  return p ? `tenant ${safe(p.tenantId)}: hipaa_enabled=${p.hipaaEnabled} (updated ${time(p.updatedAt)})` : "no policy";
}

export function formatTime(t: Timestamp | undefined): string {
  return time(t);
}
