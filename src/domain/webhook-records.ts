// Lifecycle webhooks (issue 24): what an endpoint and an outbox message are, and the rules for the
// fields an admin sets (URL, event types). An endpoint's secrets are stored because HMAC signing
// needs them (Standard Webhooks is symmetric); they are never listed, logged or put in a payload.
import { randomBytes } from "node:crypto";
import { randomBase62 } from "./base62.js";
import { invalidArgument } from "./errors.js";
import { WEBHOOK_EVENT_TYPES } from "./webhook-events.js";

export interface WebhookSecret {
  /** whsec_<base64 of 32 random bytes> */
  secret: string;
  createdAt: Date;
  /** The previous secret after a rotation: it signs beside the new one until then. */
  expiresAt?: Date | undefined;
}

export interface WebhookEndpointRecord {
  id: string;
  /** The tenant whose events it receives; ADMIN_TENANT_ID ("admin"): every tenant's. */
  tenantId: string;
  url: string;
  /** Event types; empty: every type. */
  events: string[];
  /** Newest first: the current secret, then (for the overlap after a rotation) the previous one. */
  secrets: WebhookSecret[];
  createdAt: Date;
  createdBy: string;
  disabledAt?: Date | undefined;
  /** Since when deliveries have failed without a success in between (cleared by a success). */
  failingSince?: Date | undefined;
  lastFailureAt?: Date | undefined;
  lastFailure?: string | undefined;
}

export type OutboxState = "pending" | "delivered" | "failed";

/** One event for one endpoint: stored before any send, sent with the same id (webhook-id) every time. */
export interface OutboxMessage {
  /** msg_...: the webhook-id header. Deterministic for scheduled events (stored once across replicas). */
  id: string;
  endpointId: string;
  tenantId: string;
  type: string;
  /** The JSON body, serialised once: every retry sends (and signs) the same bytes. */
  payload: string;
  createdAt: Date;
  state: OutboxState;
  attempts: number;
  nextAttemptAt: Date;
  lastError?: string | undefined;
  doneAt?: Date | undefined;
}

const ENDPOINT_ID_RE = /^wh_[0-9A-Za-z]{22}$/;
export const newEndpointId = (): string => `wh_${randomBase62(22)}`;
export const newMessageId = (): string => `msg_${randomBase62(24)}`;
export const newWebhookSecret = (): string => `whsec_${randomBytes(32).toString("base64")}`;

export function requireEndpointId(value: string, field = "endpoint_id"): string {
  if (value === "") throw invalidArgument(field, "is required");
  if (!ENDPOINT_ID_RE.test(value)) throw invalidArgument(field, "must look like wh_ followed by 22 letters or digits");
  return value;
}

export const MAX_WEBHOOK_URL_LENGTH = 2048;

/** An absolute https URL (http only when `allowHttp`), without credentials or a fragment. Never echoed. */
export function requireWebhookUrl(value: string, allowHttp: boolean, field = "url"): string {
  if (value === "") throw invalidArgument(field, "is required");
  if (value.length > MAX_WEBHOOK_URL_LENGTH)
    throw invalidArgument(field, `must be at most ${MAX_WEBHOOK_URL_LENGTH} characters`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalidArgument(field, "must be an absolute URL");
  }
  const schemes = allowHttp ? ["https:", "http:"] : ["https:"];
  if (!schemes.includes(url.protocol))
    throw invalidArgument(
      field,
      allowHttp ? "must be an http or https URL" : "must be an https URL (WEBHOOK_ALLOW_HTTP is off)",
    );
  if (url.username !== "" || url.password !== "") throw invalidArgument(field, "must not carry credentials");
  if (url.hash !== "") throw invalidArgument(field, "must not have a fragment");
  if (url.hostname === "") throw invalidArgument(field, "must name a host");
  return url.toString();
}

/** Known event types, each at most once; empty means every type. */
export function requireEventTypes(values: readonly string[], field = "events"): string[] {
  if (values.length > WEBHOOK_EVENT_TYPES.length)
    throw invalidArgument(field, "has more entries than there are event types");
  const known = new Set<string>(WEBHOOK_EVENT_TYPES);
  const out: string[] = [];
  for (const v of values) {
    if (!known.has(v))
      throw invalidArgument(field, `has an unknown event type (known: ${WEBHOOK_EVENT_TYPES.join(", ")})`);
    if (!out.includes(v)) out.push(v);
  }
  return out;
}

/** The secrets that sign a message sent at `now`: the current one and a previous one still in its overlap. */
export const signingSecrets = (ep: WebhookEndpointRecord, now: Date): string[] =>
  ep.secrets.filter((s) => s.expiresAt === undefined || s.expiresAt > now).map((s) => s.secret);

/** Does the endpoint want this event type (not disabled, and subscribed or subscribed to all)? */
export const wants = (ep: WebhookEndpointRecord, type: string): boolean =>
  ep.disabledAt === undefined && (ep.events.length === 0 || ep.events.includes(type));
