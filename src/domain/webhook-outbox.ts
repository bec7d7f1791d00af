// Events into the outbox: one message per subscribed endpoint (the event's tenant's endpoints and
// the platform-wide ones), stored before anything is sent. A scheduled event carries a dedupe key,
// and its message ids derive from it, so however many replicas schedule it, each endpoint gets one.
// An endpoint with `maxPendingPerEndpoint` undelivered messages takes no more: the event is not
// stored for it, and `onFull` is told (the app disables it, audited: webhook-disable.ts). That
// never fails or delays the call that made the event.
import { createHash } from "node:crypto";
import type { WebhookStore } from "../ports/webhook-store.js";
import { ADMIN_TENANT_ID } from "./tenant-id.js";
import { webhookPayload, type WebhookEvent } from "./webhook-events.js";
import { newMessageId, wants, type OutboxMessage } from "./webhook-records.js";

export type EnqueueEvent = (event: WebhookEvent) => Promise<number>;

const dedupedId = (dedupeKey: string, endpointId: string) =>
  `msg_${createHash("sha256").update(`${dedupeKey}\n${endpointId}`).digest("base64url").slice(0, 32)}`;
/** A message id derived from a dedupe key (32 characters after msg_; a random one has 24): the only kind that may be stored already. */
export const isDedupedMessageId = (id: string): boolean => /^msg_[A-Za-z0-9_-]{32}$/.test(id);

export interface OutboxBound {
  /** WEBHOOK_MAX_PENDING_PER_ENDPOINT */
  maxPendingPerEndpoint: number;
  /** Endpoints that were at the bound (their message was not stored). Must not throw or block. */
  onFull: (endpointIds: string[]) => void;
}

/** Stores the event for every endpoint that wants it; answers how many messages were new. */
export function createEnqueue(
  store: WebhookStore,
  now: () => Date,
  onStored?: () => void,
  bound?: OutboxBound,
): EnqueueEvent {
  return async (event) => {
    const tenants = event.tenantId === ADMIN_TENANT_ID ? [ADMIN_TENANT_ID] : [event.tenantId, ADMIN_TENANT_ID];
    // One after another: inside a transaction the driver takes no parallel operations.
    const endpoints: Awaited<ReturnType<WebhookStore["listEndpoints"]>> = [];
    for (const t of tenants) endpoints.push(...(await store.listEndpoints(t)));
    const payload = webhookPayload(event);
    const at = now();
    const messages: OutboxMessage[] = endpoints
      .filter((e) => wants(e, event.type))
      .map((e) => ({
        id: event.dedupeKey === undefined ? newMessageId() : dedupedId(event.dedupeKey, e.id),
        endpointId: e.id,
        tenantId: event.tenantId,
        type: event.type,
        payload,
        createdAt: at,
        state: "pending",
        attempts: 0,
        nextAttemptAt: at,
      }));
    if (messages.length === 0) return 0;
    const { added, full } = await store.enqueue(messages, bound?.maxPendingPerEndpoint);
    if (added > 0) onStored?.();
    if (full.length > 0) bound?.onFull(full);
    return added;
  };
}
