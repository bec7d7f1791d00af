// Webhook endpoints, the admin use cases: create (the secret shown once), list (never a secret),
// rotate the secret (the previous one keeps signing beside it for an overlap), delete.
import type { Clock } from "../ports/clock.js";
import type { WebhookStore } from "../ports/webhook-store.js";
import { DomainError } from "./errors.js";
import { newEndpointId, newWebhookSecret, type WebhookEndpointRecord, type WebhookSecret } from "./webhook-records.js";

export interface WebhookEndpointView {
  endpoint: WebhookEndpointRecord;
  /** Undelivered messages. */
  backlog: number;
}

export interface WebhookService {
  create(args: { tenantId: string; url: string; events: string[]; createdBy: string }): Promise<{
    endpoint: WebhookEndpointRecord;
    secret: string;
  }>;
  list(tenantId: string): Promise<WebhookEndpointView[]>;
  rotateSecret(tenantId: string, endpointId: string): Promise<{ endpoint: WebhookEndpointRecord; secret: string }>;
  delete(tenantId: string, endpointId: string): Promise<void>;
}

/** Rotations of one endpoint racing this one that it rereads past before answering ABORTED. */
const MAX_ROTATE_ATTEMPTS = 5;

const notFound = () => new DomainError("not_found", "no such webhook endpoint for this tenant");

export function createWebhookService(deps: {
  store: WebhookStore;
  clock: Clock;
  maxEndpointsPerTenant: number;
  secretOverlapMs: number;
}): WebhookService {
  const { store, clock } = deps;
  return {
    async create({ tenantId, url, events, createdBy }) {
      const secret = newWebhookSecret();
      const now = clock.now();
      const endpoint: WebhookEndpointRecord = {
        id: newEndpointId(),
        tenantId,
        url,
        events,
        secrets: [{ secret, createdAt: now }],
        createdAt: now,
        createdBy,
      };
      const r = await store.insertEndpoint(endpoint, deps.maxEndpointsPerTenant);
      if (!r.ok)
        throw new DomainError(
          "resource_exhausted",
          `tenant ${tenantId} already has ${deps.maxEndpointsPerTenant} webhook endpoints (WEBHOOK_MAX_ENDPOINTS_PER_TENANT); delete one first`,
        );
      return { endpoint, secret };
    },
    async list(tenantId) {
      const endpoints = await store.listEndpoints(tenantId);
      return Promise.all(
        endpoints.map(async (endpoint) => ({ endpoint, backlog: await store.countPending(endpoint.id) })),
      );
    },
    async rotateSecret(tenantId, endpointId) {
      const secret = newWebhookSecret();
      // The write is conditional on the current secret read: a rotation racing another one reads
      // again and rotates on top of it, so every secret answered signs (was: one silently lost).
      for (let attempt = 0; attempt < MAX_ROTATE_ATTEMPTS; attempt++) {
        const current = await store.getEndpoint(endpointId);
        if (!current || current.tenantId !== tenantId) throw notFound();
        const now = clock.now();
        const previous = current.secrets[0];
        const secrets: WebhookSecret[] = [{ secret, createdAt: now }];
        if (previous && deps.secretOverlapMs > 0)
          secrets.push({ ...previous, expiresAt: new Date(now.getTime() + deps.secretOverlapMs) });
        const endpoint = await store.setSecrets(tenantId, endpointId, secrets, previous?.secret);
        if (endpoint) return { endpoint, secret };
      }
      throw new DomainError("aborted", "the webhook secret changed concurrently; retry");
    },
    async delete(tenantId, endpointId) {
      if (!(await store.deleteEndpoint(tenantId, endpointId))) throw notFound();
    },
  };
}
