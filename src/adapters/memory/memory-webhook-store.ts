// The embedded store's webhook endpoints and outbox. Every method is synchronous before its first
// await, so each call is atomic (one process, one event loop). Delivered and failed messages are
// dropped at once (nothing reads them back), so memory holds only what is still to be sent.
import type { KeyRecord } from "../../domain/records.js";
import type { OutboxMessage, WebhookEndpointRecord } from "../../domain/webhook-records.js";
import type { WebhookStore } from "../../ports/webhook-store.js";

const copyEndpoint = (e: WebhookEndpointRecord): WebhookEndpointRecord => ({
  ...e,
  events: [...e.events],
  secrets: e.secrets.map((s) => ({ ...s })),
});

/** `keys`: the embedded token store's keys (for findKeysExpiringBetween); none without it. */
export function createMemoryWebhookStore(opts: { keys?: () => Iterable<KeyRecord> } = {}): WebhookStore {
  const endpoints = new Map<string, WebhookEndpointRecord & { claim?: { holder: string; until: Date } }>();
  const messages = new Map<string, OutboxMessage>();
  const byOrder = (a: OutboxMessage, b: OutboxMessage) =>
    a.createdAt.getTime() - b.createdAt.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  const pendingOf = (endpointId: string) =>
    [...messages.values()].filter((m) => m.endpointId === endpointId && m.state === "pending").sort(byOrder);
  const countPendingOf = (endpointId: string) => {
    let n = 0;
    for (const m of messages.values()) if (m.endpointId === endpointId && m.state === "pending") n++;
    return n;
  };
  const dropMessagesOf = (endpointId: string) => {
    for (const [id, m] of messages) if (m.endpointId === endpointId) messages.delete(id);
  };

  return {
    async insertEndpoint(endpoint, maxPerTenant) {
      const count = [...endpoints.values()].filter((e) => e.tenantId === endpoint.tenantId).length;
      if (count >= maxPerTenant) return { ok: false, reason: "limit" };
      endpoints.set(endpoint.id, copyEndpoint(endpoint));
      return { ok: true };
    },
    async listEndpoints(tenantId) {
      return [...endpoints.values()]
        .filter((e) => e.tenantId === tenantId)
        .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || (a.id < b.id ? -1 : 1))
        .map(({ claim: _claim, ...e }) => copyEndpoint(e));
    },
    async getEndpoint(endpointId) {
      const e = endpoints.get(endpointId);
      if (!e) return null;
      const { claim: _claim, ...rest } = e;
      return copyEndpoint(rest);
    },
    async deleteEndpoint(tenantId, endpointId) {
      if (endpoints.get(endpointId)?.tenantId !== tenantId) return false;
      endpoints.delete(endpointId);
      dropMessagesOf(endpointId);
      return true;
    },
    async setSecrets(tenantId, endpointId, secrets, expectedCurrent) {
      const e = endpoints.get(endpointId);
      if (!e || e.tenantId !== tenantId) return null;
      if (expectedCurrent !== undefined && e.secrets[0]?.secret !== expectedCurrent) return null;
      e.secrets = secrets.map((s) => ({ ...s }));
      const { claim: _claim, ...rest } = e;
      return copyEndpoint(rest);
    },
    async recordFailure(endpointId, at, failure) {
      const e = endpoints.get(endpointId);
      if (!e) return;
      e.lastFailureAt = at;
      e.lastFailure = failure;
      e.failingSince ??= at;
    },
    async recordSuccess(endpointId) {
      const e = endpoints.get(endpointId);
      if (e) delete e.failingSince;
    },
    async disableEndpoint(endpointId, at) {
      const e = endpoints.get(endpointId);
      if (!e) return false;
      if (e.disabledAt !== undefined) {
        // Already disabled: a message stored for it since (an enqueue racing the disable) goes too.
        for (const m of pendingOf(endpointId)) messages.delete(m.id);
        return false;
      }
      e.disabledAt = at;
      for (const m of pendingOf(endpointId)) messages.delete(m.id);
      return true;
    },

    async enqueue(batch, maxPendingPerEndpoint = Number.POSITIVE_INFINITY) {
      let added = 0;
      const full = new Set<string>();
      const pending = new Map<string, number>();
      for (const m of batch) {
        if (messages.has(m.id)) continue;
        const n = pending.get(m.endpointId) ?? countPendingOf(m.endpointId);
        if (n >= maxPendingPerEndpoint) {
          full.add(m.endpointId);
          continue;
        }
        messages.set(m.id, { ...m });
        pending.set(m.endpointId, n + 1);
        added++;
      }
      return { added, full: [...full] };
    },
    async dueEndpoints(now, limit) {
      const due = new Set<string>();
      for (const m of messages.values()) if (m.state === "pending" && m.nextAttemptAt <= now) due.add(m.endpointId);
      return sampleOf([...due], limit);
    },
    async claimEndpoint({ endpointId, holder, now, until }) {
      const e = endpoints.get(endpointId);
      if (!e) return false;
      if (e.claim && e.claim.holder !== holder && e.claim.until > now) return false;
      e.claim = { holder, until };
      return true;
    },
    async releaseEndpoint(endpointId, holder) {
      const e = endpoints.get(endpointId);
      if (e?.claim?.holder === holder) delete e.claim;
    },
    async pendingMessages(endpointId, limit) {
      return pendingOf(endpointId)
        .slice(0, Math.max(0, limit))
        .map((m) => ({ ...m }));
    },
    async markDelivered(messageId) {
      messages.delete(messageId);
    },
    async markAttemptFailed(messageId, { nextAttemptAt, error }) {
      const m = messages.get(messageId);
      if (!m || m.state !== "pending") return;
      m.attempts++;
      m.nextAttemptAt = nextAttemptAt;
      m.lastError = error;
    },
    async countPending(endpointId) {
      let n = 0;
      for (const m of messages.values())
        if (m.state === "pending" && (endpointId === undefined || m.endpointId === endpointId)) n++;
      return n;
    },
    async findKeysExpiringBetween(from, to, limit) {
      const expiry = (k: KeyRecord) => (k as KeyRecord & { expiresAt?: Date }).expiresAt;
      return [...(opts.keys?.() ?? [])]
        .filter((k) => {
          const at = expiry(k);
          return k.status !== "revoked" && at !== undefined && at > from && at <= to;
        })
        .sort((a, b) => expiry(a)!.getTime() - expiry(b)!.getTime())
        .slice(0, Math.max(0, limit))
        .map((k) => ({ ...k }));
    },
  };
}

/**
 * At most `limit` of `ids`, chosen at random when there are more (a partial Fisher-Yates shuffle):
 * the port's fairness rule for due endpoints, as MongoDB's `$sample`.
 */
function sampleOf(ids: string[], limit: number): string[] {
  if (ids.length <= limit) return ids;
  for (let i = 0; i < limit; i++) {
    const j = i + Math.floor(Math.random() * (ids.length - i));
    [ids[i], ids[j]] = [ids[j]!, ids[i]!];
  }
  return ids.slice(0, Math.max(0, limit));
}
