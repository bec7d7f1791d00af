import type { Logger } from "pino";
import type { AuditSink } from "../domain/audit-trail.js";

/**
 * Each audit event is also one structured log line (`"audit": true`), for shipping to a SIEM. It
 * carries the event's real outcome even when the store could not take it (`stored: false`).
 */
export function createAuditLogSink(logger: Logger): AuditSink {
  return (e, stored) =>
    logger.info(
      {
        audit: true,
        stored,
        event_id: e.id,
        event_time: e.time.toISOString(),
        action: e.action,
        outcome: e.outcome,
        code: e.code,
        actor_kind: e.actor.kind,
        actor_id: e.actor.id,
        actor_tenant: e.actor.tenantId,
        tenant: e.tenantId,
        key_id: e.keyId,
        session_id: e.sessionId,
        peer: e.peer,
        user_agent: e.userAgent,
        protocol: e.protocol,
        request_id: e.requestId,
        detail: e.detail,
      },
      "audit",
    );
}
