// The webhook event catalogue (docs/webhooks.md) and how an event is derived from the audit trail:
// completed "ok" audit events map to event types by action NAME (strings, so actions other branches
// add map before they exist here). A payload is Standard Webhooks' shape {type, timestamp, data};
// data carries ids only: never a token, a token hash, a secret or a free-text detail.
import type { AuditEvent } from "./audit.js";

export const WEBHOOK_EVENT_TYPES = [
  "key.created",
  "key.rotated",
  "key.revoked",
  "key.grace_ending",
  "key.grace_ended",
  "key.expiring",
  "key.expired",
  "key.suspended",
  "key.resumed",
  "key.exposed",
  "sessions.revoked",
  "policy.changed",
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** Audit action name -> event type. */
export const AUDIT_EVENT_TYPES: Readonly<Record<string, WebhookEventType>> = {
  "key.create": "key.created",
  "key.rotate": "key.rotated",
  "key.revoke": "key.revoked",
  "key.grace_expired": "key.grace_ended",
  "key.expired": "key.expired",
  "key.suspend": "key.suspended",
  "key.resume": "key.resumed",
  "key.exposed": "key.exposed",
  "sessions.revoke_all": "sessions.revoked",
  "policy.set": "policy.changed",
};

export interface WebhookEvent {
  type: WebhookEventType;
  tenantId: string;
  timestamp: Date;
  data: Record<string, string | number | boolean>;
  /** For scheduled events: the same event is stored once however many replicas schedule it. */
  dedupeKey?: string | undefined;
}

const SUCCESSOR = /successor (key_[0-9A-Za-z]{20})/;
const HIPAA = /hipaa_enabled=(true|false)/;
const COUNT = /^revoked (\d+) sessions/;

/** The webhook event an audit event stands for, if any: only completed "ok" events of mapped actions. */
export function webhookEventOf(e: AuditEvent): WebhookEvent | undefined {
  if (e.outcome !== "ok") return undefined;
  const type = AUDIT_EVENT_TYPES[e.action];
  if (type === undefined) return undefined;
  const data: Record<string, string | number | boolean> = {
    tenant_id: e.tenantId,
    audit_event_id: e.id,
    actor_type: e.actor.kind,
  };
  if (e.keyId !== undefined) data["key_id"] = e.keyId;
  const detail = e.detail ?? "";
  const successor = type === "key.rotated" ? SUCCESSOR.exec(detail) : null;
  if (successor) data["successor_key_id"] = successor[1]!;
  const hipaa = type === "policy.changed" ? HIPAA.exec(detail) : null;
  if (hipaa) data["hipaa_enabled"] = hipaa[1] === "true";
  const count = type === "sessions.revoked" ? COUNT.exec(detail) : null;
  if (count) data["revoked_count"] = Number(count[1]);
  return { type, tenantId: e.tenantId, timestamp: e.time, data };
}

/** The body every delivery of the event sends (Standard Webhooks: type, timestamp, data). */
export const webhookPayload = (ev: WebhookEvent): string =>
  JSON.stringify({ type: ev.type, timestamp: ev.timestamp.toISOString(), data: ev.data });
