// Lifecycle webhooks in a running instance (issue 24): the sender (WEBHOOK_DELIVERY=on), the
// scheduled events under their lease, and their metrics.
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import type { Config } from "../config.js";
import type { AuditTrail } from "../domain/audit-trail.js";
import type { EnqueueEvent } from "../domain/webhook-outbox.js";
import { registerWebhookMetrics } from "../observability/metrics.js";
import type { Clock } from "../ports/clock.js";
import type { TokenStore } from "../ports/token-store.js";
import type { WebhookStore } from "../ports/webhook-store.js";
import { createDestinationGuard } from "../adapters/webhook/destination-guard.js";
import { createHttpDelivery } from "../adapters/webhook/webhook-http.js";
import { startWebhookSender, type WebhookSender } from "./webhook-sender.js";
import { startWebhookSchedule } from "./webhook-schedule.js";
import { createEndpointDisabler } from "./webhook-disable.js";

export function startWebhooks(deps: {
  config: Readonly<Config>;
  logger: Logger;
  clock: Clock;
  store: TokenStore;
  webhooks: WebhookStore;
  audit: AuditTrail;
  enqueue: EnqueueEvent;
  registry: Registry;
  /** Runs work away from the caller's store context (see webhook-disable.ts). */
  detach?: ((fn: () => void) => void) | undefined;
}): { kick(): void; outboxWriteFailed(): void; endpointsFull(endpointIds: string[]): void; stop(): Promise<void> } {
  const { config, logger, clock } = deps;
  const w = config.webhooks;
  const holder = `${hostname()}-${process.pid}-${randomBytes(4).toString("hex")}`;
  let sender: WebhookSender | undefined;
  const metrics = registerWebhookMetrics(deps.registry, () => sender?.backlog() ?? 0);
  // Also without delivery here: an instance that stores events disables the endpoints it finds full.
  const disabler = createEndpointDisabler({
    store: deps.webhooks,
    audit: deps.audit,
    clock,
    logger,
    maxPendingPerEndpoint: w.maxPendingPerEndpoint,
    onDisabled: () => metrics.deliveries.labels("disabled").inc(),
    detach: deps.detach,
  });
  if (w.deliveryEnabled) {
    const guard = createDestinationGuard({ allowPrivate: w.allowPrivateDestinations, allowedCidrs: w.allowedCidrs });
    sender = startWebhookSender({
      store: deps.webhooks,
      audit: deps.audit,
      clock,
      logger,
      deliver: createHttpDelivery({ guard, timeoutMs: w.timeoutMs, maxResponseBytes: w.maxResponseBytes }),
      config: w,
      deliveries: metrics.deliveries,
      holder,
      disabler,
    });
  }
  const schedule = startWebhookSchedule({
    store: deps.store,
    webhooks: deps.webhooks,
    enqueue: deps.enqueue,
    clock,
    logger,
    intervalMs: config.sweepIntervalMs,
    holder,
  });
  return {
    kick: () => sender?.kick(),
    outboxWriteFailed: () => metrics.outboxWriteFailures.inc(),
    endpointsFull: (endpointIds) => disabler.full(endpointIds),
    async stop() {
      schedule.stop();
      await sender?.stop();
    },
  };
}
