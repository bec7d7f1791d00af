import { AUDIT_ACTIONS } from "../domain/audit.js";
import {
  AuditAction,
  AuditActorKind,
  AuditOutcome,
  type AuditEvent,
  type Session,
} from "../gen/warpflow/auth/v1/token_service_pb.js";
import { fromProtoAction, toProtoAction } from "../service/audit-mapping.js";
import { safe, type Look } from "./format.js";
import { relative, renderTable } from "./table.js";

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

/** One row per event, newest first: WHEN, ACTION, OUTCOME, TARGET, BY, VIA, DETAIL (aligned whatever a code's length). */
export function auditTable(events: AuditEvent[], look: Look): string {
  return renderTable(
    ["WHEN", "ACTION", "OUTCOME", "TARGET", "BY", "VIA", "DETAIL"],
    events.map((e) => {
      const a = e.actor;
      const actor = a
        ? `${ACTOR(a.kind)}${a.id ? ` ${safe(a.id)}` : ""}${a.tenantId ? ` (${safe(a.tenantId)})` : ""}`
        : "-";
      const outcome = e.outcome === AuditOutcome.UNKNOWN ? "UNKNOWN" : safe(e.code) || "-";
      return [
        relative(e.time, look.now),
        fromProtoAction(e.action) ?? "unknown",
        outcome === "OK" ? outcome : look.paint.red(outcome),
        [e.tenantId, e.keyId, e.sessionId].filter(Boolean).map(safe).join(" ") + (e.count > 1 ? ` x${e.count}` : ""),
        actor,
        [e.protocol, e.peer, e.userAgent ? `"${e.userAgent}"` : ""].filter(Boolean).map(safe).join(" ") || "-",
        safe(e.detail),
      ];
    }),
  );
}

export function formatSession(s: Session | undefined, look: Look): string {
  if (!s) return "no session";
  const t = (x: Session["createdAt"]) => relative(x, look.now);
  return `session ${safe(s.id)} of tenant ${safe(s.tenantId)}: created ${t(s.createdAt)} by ${safe(s.createdBy) || "-"}, expires ${t(s.expiresAt)}${s.revokedAt ? `, ${look.paint.red("revoked")} ${t(s.revokedAt)} by ${safe(s.revokedBy) || "-"}` : ""}`;
}
