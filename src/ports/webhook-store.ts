// The webhook part of the store (issue 24): endpoints and the outbox. Every write the sender relies
// on is one atomic conditional operation, so replicas sharing a store never both send a message:
// a replica sends an endpoint's messages only while it holds that endpoint's claim, and a claim not
// renewed (a replica that died mid-send) lapses at its `until`, so the messages are sent again by
// whoever claims next (at least once, same webhook-id). The contract: test/contract/webhook-store.contract.ts.
import type { KeyRecord } from "../domain/records.js";
import type { OutboxMessage, WebhookEndpointRecord } from "../domain/webhook-records.js";

export type InsertEndpointResult = { ok: true } | { ok: false; reason: "limit" };

/** What enqueue stored: `added` new messages; `full`: endpoints whose messages were not stored (at the cap). */
export interface EnqueueResult {
  added: number;
  full: string[];
}

export interface WebhookStore {
  /** Inserts the endpoint unless its tenant already has `maxPerTenant` endpoints (race-free). */
  insertEndpoint(endpoint: WebhookEndpointRecord, maxPerTenant: number): Promise<InsertEndpointResult>;
  /** A tenant's endpoints, oldest first. */
  listEndpoints(tenantId: string): Promise<WebhookEndpointRecord[]>;
  getEndpoint(endpointId: string): Promise<WebhookEndpointRecord | null>;
  /** Deletes the endpoint of this tenant and its undelivered messages; false when there is none. */
  deleteEndpoint(tenantId: string, endpointId: string): Promise<boolean>;
  /**
   * Replaces the endpoint's secrets (current first); null when the endpoint does not exist for this
   * tenant, or (`expectedCurrent` given) when its current secret is no longer that one (a concurrent
   * rotation won: read again). One conditional write.
   */
  setSecrets(
    tenantId: string,
    endpointId: string,
    secrets: WebhookEndpointRecord["secrets"],
    expectedCurrent?: string,
  ): Promise<WebhookEndpointRecord | null>;
  /** A failed delivery: sets lastFailure(At), and failingSince unless already set. */
  recordFailure(endpointId: string, at: Date, failure: string): Promise<void>;
  /** A delivered message: clears failingSince. */
  recordSuccess(endpointId: string): Promise<void>;
  /**
   * Disables the endpoint at `at` and marks its pending messages failed (also when it was already
   * disabled: a message an enqueue racing the disable stored since). Answers true only for the
   * one call that disabled it (a conditional write: several replicas, one `webhook.disabled` event).
   */
  disableEndpoint(endpointId: string, at: Date): Promise<boolean>;

  /**
   * Stores messages; one whose id is already stored is skipped (idempotent). With
   * `maxPendingPerEndpoint`: a message for an endpoint that already has that many pending messages
   * is not stored, and the endpoint is answered in `full` (a bound on the outbox per endpoint;
   * concurrent enqueues may pass it by the messages stored at the same instant, never more).
   */
  enqueue(messages: readonly OutboxMessage[], maxPendingPerEndpoint?: number): Promise<EnqueueResult>;
  /**
   * Ids of endpoints with a pending message due at `now` (nextAttemptAt <= now), at most `limit`:
   * when more are due, a random choice of them (no endpoints keep every place of the sender).
   */
  dueEndpoints(now: Date, limit: number): Promise<string[]>;
  /**
   * Claims the endpoint's deliveries for `holder` until `until` when nobody holds them (never
   * claimed, or the claim lapsed at `now`) or `holder` already does. One atomic conditional write.
   */
  claimEndpoint(args: { endpointId: string; holder: string; now: Date; until: Date }): Promise<boolean>;
  releaseEndpoint(endpointId: string, holder: string): Promise<void>;
  /** The endpoint's pending messages in the order they were stored (createdAt, then id), at most `limit`. */
  pendingMessages(endpointId: string, limit: number): Promise<OutboxMessage[]>;
  markDelivered(messageId: string, at: Date): Promise<void>;
  /** A failed attempt: attempts + 1, the next attempt's time and the failure. */
  markAttemptFailed(messageId: string, args: { nextAttemptAt: Date; error: string }): Promise<void>;
  /** Pending messages: in all (the backlog metric), or of one endpoint. */
  countPending(endpointId?: string): Promise<number>;

  /**
   * For the `key.expiring` event: keys not stored as REVOKED whose `expiresAt` (KeyRecord, issue 22)
   * lies in (from, to], soonest first, at most `limit`. Keys without an expiry are never answered.
   */
  findKeysExpiringBetween(from: Date, to: Date, limit: number): Promise<KeyRecord[]>;
}
