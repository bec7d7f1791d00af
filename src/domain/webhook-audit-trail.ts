// The audit trail, with webhook events derived from it: every event that ends "ok" for a mapped
// action (webhook-events.ts) is put in the outbox once the trail has stored its outcome, before
// the call answers. An outbox write that fails does not undo or fail the change (it has happened);
// it is reported (`onError`: a log line and a metric), and that event is not delivered. Inside a
// transaction (the trail's unit of work on a MongoDB replica set) it is not swallowed: the unit
// fails, and the change, its audit events and its messages are stored together or not at all.
import type { AuditEvent } from "./audit.js";
import type { AuditTrail } from "./audit-trail.js";
import { webhookEventOf } from "./webhook-events.js";
import type { EnqueueEvent } from "./webhook-outbox.js";

export function withWebhookEvents(
  trail: AuditTrail,
  enqueue: EnqueueEvent,
  onError: (err: unknown, event: AuditEvent) => void,
  now: () => Date,
): AuditTrail {
  const publish = async (event: AuditEvent) => {
    const ev = webhookEventOf(event);
    if (!ev) return;
    try {
      await enqueue(ev);
    } catch (err) {
      if (trail.unit?.inTransaction()) throw err;
      onError(err, event);
    }
  };
  return {
    async begin(draft) {
      const pending = await trail.begin(draft);
      return {
        event: pending.event,
        async complete(c) {
          await pending.complete(c);
          if (c.outcome !== "ok") return;
          const done: AuditEvent = {
            ...pending.event,
            outcome: "ok",
            code: c.code,
            ...(c.keyId !== undefined ? { keyId: c.keyId } : {}),
            ...(c.sessionId !== undefined ? { sessionId: c.sessionId } : {}),
            ...(c.detail !== undefined ? { detail: c.detail } : {}),
          };
          await publish(done);
        },
      };
    },
    async record(draft, c) {
      const event = await trail.record(draft, c);
      await publish(event);
      return event;
    },
    async recordOnce(draft, c) {
      const stored = await trail.recordOnce(draft, c);
      // Enqueued whether or not this replica stored the audit event: the message ids derive from
      // the dedupe key, so of several replicas (or a sweep retried after a crash between the two
      // writes) exactly one message per endpoint is stored.
      if (c.outcome === "ok") {
        const event = {
          ...draft,
          ...pick(c),
          id: "",
          time: draft.time ?? now(),
          outcome: "ok",
          code: c.code,
        } as AuditEvent;
        const ev = webhookEventOf(event);
        if (ev) {
          delete ev.data["audit_event_id"];
          try {
            await enqueue({ ...ev, dedupeKey: draft.dedupeKey });
          } catch (err) {
            if (trail.unit?.inTransaction()) throw err;
            onError(err, event);
          }
        }
      }
      return stored;
    },
    list: (query) => trail.list(query),
    unit: trail.unit,
  };
}

const pick = (c: { keyId?: string | undefined; sessionId?: string | undefined; detail?: string | undefined }) => ({
  ...(c.keyId !== undefined ? { keyId: c.keyId } : {}),
  ...(c.sessionId !== undefined ? { sessionId: c.sessionId } : {}),
  ...(c.detail !== undefined ? { detail: c.detail } : {}),
});
