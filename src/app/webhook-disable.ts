// Disabling a webhook endpoint (issue 24): after failing without a success for
// WEBHOOK_DISABLE_AFTER_MS (the sender), or once its undelivered messages reach
// WEBHOOK_MAX_PENDING_PER_ENDPOINT (the outbox bound, told by createEnqueue). One conditional write
// (of several replicas one disables, one `webhook.disabled` event), its pending messages dropped,
// a warning log line and the `disabled` delivery count. Never on the path of the call that made
// an event: the bound's disable runs on its own, at most one per endpoint at a time per instance.
import type { Logger } from "pino";
import type { AuditTrail } from "../domain/audit-trail.js";
import { ADMIN_TENANT_ID } from "../domain/tenant-id.js";
import type { WebhookEndpointRecord } from "../domain/webhook-records.js";
import type { Clock } from "../ports/clock.js";
import type { WebhookStore } from "../ports/webhook-store.js";

export interface EndpointDisabler {
  /** The sender's: the endpoint has failed too long (`failure`: the last attempt's). */
  failing(ep: WebhookEndpointRecord, failure: string): Promise<void>;
  /** The outbox bound's: these endpoints are full. Returns at once; failures are logged (the next full enqueue tries again). */
  full(endpointIds: readonly string[]): void;
}

export function createEndpointDisabler(deps: {
  store: WebhookStore;
  audit: AuditTrail;
  clock: Clock;
  logger: Logger;
  maxPendingPerEndpoint: number;
  /** A disable happened (the `disabled` delivery count). */
  onDisabled?: (() => void) | undefined;
  /** Runs `fn` away from the caller's context (e.g. outside a store transaction); default: setImmediate. */
  detach?: ((fn: () => void) => void) | undefined;
}): EndpointDisabler {
  const { store, audit, clock, logger } = deps;
  const detach = deps.detach ?? ((fn: () => void) => void setImmediate(fn));
  const inProgress = new Set<string>();

  async function disable(ep: WebhookEndpointRecord, why: string, logLine: string): Promise<void> {
    const at = clock.now();
    if (!(await store.disableEndpoint(ep.id, at))) return;
    deps.onDisabled?.();
    logger.warn({ endpoint_id: ep.id, tenant_id: ep.tenantId, reason: why }, logLine);
    await audit
      .record(
        {
          action: "webhook.disabled",
          actor: { kind: "service", id: "webhook-sender", tenantId: ADMIN_TENANT_ID },
          tenantId: ep.tenantId,
          detail: `endpoint ${ep.id} disabled: ${why}`,
        },
        { outcome: "ok", code: "OK" },
      )
      .catch((err: unknown) => logger.warn({ err: (err as Error).message }, "webhook.disabled audit event not stored"));
  }

  return {
    failing: (ep, failure) =>
      disable(
        ep,
        `failing since ${ep.failingSince?.toISOString() ?? clock.now().toISOString()} (last: ${failure})`,
        "webhook endpoint disabled after failing too long",
      ),
    full(endpointIds) {
      for (const id of endpointIds) {
        if (inProgress.has(id)) continue;
        inProgress.add(id);
        detach(() => {
          void (async () => {
            const ep = await store.getEndpoint(id);
            if (!ep || ep.disabledAt) return;
            await disable(
              ep,
              `${deps.maxPendingPerEndpoint} undelivered messages (WEBHOOK_MAX_PENDING_PER_ENDPOINT)`,
              "webhook endpoint disabled: too many undelivered messages",
            );
          })()
            .catch((err: unknown) =>
              logger.warn(
                { endpoint_id: id, err: (err as Error).message },
                "webhook endpoint not disabled; will retry",
              ),
            )
            .finally(() => inProgress.delete(id));
        });
      }
    },
  };
}
