import { AUDIT_ACTIONS } from "../domain/audit.js";
import {
  AuditAction,
  AuditActorKind,
  AuditOutcome,
  type AuditEvent,
  type Session,
} from "../gen/warpflow/auth/v1/token_service_pb.js";
import { fromProtoAction, toProtoAction } from "../service/audit-mapping.js";
import { formatTime, safe } from "./format.js";

/** Human-readable audit events and sessions for the admin CLI; parsing of its audit options. */

/** "key.rotate" (or "KEY_ROTATE") -> the enum value; undefined for an unknown name. */
export function parseAuditAction(name: string): AuditAction | undefined {
  const a = AUDIT_ACTIONS.find((x) => x === name.toLowerCase() || AuditAction[toProtoAction(x)] === name.toUpperCase());
  return a === undefined ? undefined : toProtoAction(a);
}

/** An ISO time ("2026-02-22", "2026-02-22T15:00:00Z") or an age ("90m", "24h", "7d") before `now`. */
export function parseSince(value: string, now = new Date()): Date | undefined {
  const age = /^(\d+)([mhd])$/.exec(value);
  if (age)
    return new Date(
      now.getTime() - Number(age[1]) * { m: 60_000, h: 3_600_000, d: 86_400_000 }[age[2] as "m" | "h" | "d"],
    );
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : new Date(t);
}

const ACTOR = (k: AuditActorKind) => AuditActorKind[k]?.toLowerCase() ?? "unknown";

export function formatAuditEvent(e: AuditEvent): string {
  const time = formatTime(e.time);
  const outcome = e.outcome === AuditOutcome.UNKNOWN ? "UNKNOWN" : safe(e.code);
  const a = e.actor;
  const actor = a
    ? `${ACTOR(a.kind)}${a.id ? ` ${safe(a.id)}` : ""}${a.tenantId ? ` (${safe(a.tenantId)})` : ""}`
    : "-";
  const target = [e.tenantId, e.keyId, e.sessionId].filter(Boolean).map(safe).join(" ");
  const from = [e.protocol, e.peer, e.userAgent ? `"${e.userAgent}"` : ""].filter(Boolean).map(safe).join(" ");
  const times = e.count > 1 ? `  x${e.count}` : "";
  const lines = [
    `${time}  ${(fromProtoAction(e.action) ?? "unknown").padEnd(19)} ${outcome.padEnd(17)} ${target}${times}`,
    `    by ${actor}${from ? `  via ${from}` : ""}`,
  ];
  if (e.detail) lines.push(`    ${safe(e.detail)}`);
  return lines.join("\n");
}

export function formatSession(s: Session | undefined): string {
  if (!s) return "no session";
  const t = formatTime;
  return `${safe(s.id)}  tenant ${safe(s.tenantId)}, created ${t(s.createdAt)} by ${safe(s.createdBy) || "-"}, expires ${t(s.expiresAt)}${s.revokedAt ? `, revoked ${t(s.revokedAt)} by ${safe(s.revokedBy) || "-"}` : ""}`;
}
