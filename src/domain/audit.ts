// The audit trail's records and rules: what an event holds, how ids order, what a query is.
// An event never holds a token, a token hash or an Authorization value: only ids (key, session,
// Cognito sub), tenants, addresses and a short detail.
import { randomBase62 } from "./base62.js";
import { invalidArgument } from "./errors.js";
import { escapeUnprintable } from "./printable.js";

export const AUDIT_ACTIONS = [
  "key.create",
  "key.rotate",
  "key.revoke",
  "key.grace_expired",
  "keys.list",
  "session.create",
  "session.revoke",
  "sessions.revoke_all",
  "policy.set",
  "policy.get",
  "admin_key.create",
  "audit.list",
  "key.exposed",
  "webhook.create",
  "webhook.delete",
  "webhook.secret_rotate",
  "webhook.disabled",
  "webhooks.list",
  "key.expired",
  "key.suspend",
  "key.resume",
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export type AuditActorKind = "none" | "admin_key" | "cognito_user" | "api_key" | "session" | "service";

export interface AuditActor {
  kind: AuditActorKind;
  id: string;
  tenantId: string;
}

/**
 * "pending": stored before a change ran and not (yet) completed; read as outcome unknown.
 * "ok" / "failed": how the attempt ended, with its gRPC status name in `code`.
 */
export type AuditOutcome = "pending" | "ok" | "failed";

export interface AuditEvent {
  /**
   * Time-ordered: `ev_` + the time in ms (base36, 10 characters) + a per-process sequence within
   * that ms (base36, 4) + 8 random base62 characters (unique across replicas).
   */
  id: string;
  time: Date;
  action: AuditAction;
  outcome: AuditOutcome;
  /** "OK", "PERMISSION_DENIED", ...; "" while pending. */
  code: string;
  actor: AuditActor;
  /** The tenant acted on; "admin" for platform-level events. */
  tenantId: string;
  keyId?: string | undefined;
  sessionId?: string | undefined;
  peer?: string | undefined;
  userAgent?: string | undefined;
  protocol?: string | undefined;
  /** The call's request id (x-request-id): for the audit log line, to join it with the rpc line (not stored in MongoDB). */
  requestId?: string | undefined;
  detail?: string | undefined;
  /**
   * Counted refusals (see refusal-windows.ts): how many unauthenticated attempts this one event
   * stands for, the first of them at `firstTime`, the last at `time`. Absent: one attempt.
   */
  count?: number | undefined;
  firstTime?: Date | undefined;
  /** Service actions recorded by whichever replica gets there first: at most one event per value. */
  dedupeKey?: string | undefined;
}

/** What completing a pending event sets. */
export interface AuditCompletion {
  outcome: "ok" | "failed";
  code: string;
  keyId?: string | undefined;
  sessionId?: string | undefined;
  detail?: string | undefined;
}

export interface AuditQuery {
  tenantId: string;
  action?: AuditAction | undefined;
  /** Inclusive. */
  since?: Date | undefined;
  /** Exclusive. */
  until?: Date | undefined;
  /** Only events whose id is smaller (the cursor: the last id of the previous page). */
  beforeId?: string | undefined;
  limit: number;
}

const TIME_WIDTH = 10; // base36 ms: enough until the year 5188
const SEQ_WIDTH = 4;
const ID_RE = /^ev_[0-9a-z]{14}[0-9A-Za-z]{8}$/;

/** The id prefix of an instant: every id of an event at or after `time` is >= it (string order). */
export const auditIdFloor = (time: Date): string =>
  `ev_${Math.max(0, time.getTime()).toString(36).padStart(TIME_WIDTH, "0")}`;

let lastMs = -1;
let seq = 0;

/** Ids of events of one process at the same ms still sort in the order they were made. */
export function newAuditEventId(time: Date): string {
  const ms = time.getTime();
  seq = ms === lastMs ? (seq + 1) % 36 ** SEQ_WIDTH : 0;
  lastMs = ms;
  return `${auditIdFloor(time)}${seq.toString(36).padStart(SEQ_WIDTH, "0")}${randomBase62(8)}`;
}

export const isAuditEventId = (value: string): boolean => ID_RE.test(value);

export const AUDIT_PAGE_SIZE_DEFAULT = 100;
export const AUDIT_PAGE_SIZE_MAX = 500;

/** AIP-158: unset (0) is the default, larger than the maximum is the maximum, negative is an error. */
export function auditPageSize(requested: number): number {
  if (requested < 0) throw invalidArgument("page_size", "must not be negative");
  if (requested === 0) return AUDIT_PAGE_SIZE_DEFAULT;
  return Math.min(requested, AUDIT_PAGE_SIZE_MAX);
}

/** Does the event match the query's filters (not the cursor or the limit)? */
export function auditMatches(e: AuditEvent, q: AuditQuery): boolean {
  if (e.tenantId !== q.tenantId) return false;
  if (q.action !== undefined && e.action !== q.action) return false;
  if (q.since !== undefined && e.id < auditIdFloor(q.since)) return false;
  if (q.until !== undefined && e.id >= auditIdFloor(q.until)) return false;
  if (q.beforeId !== undefined && e.id >= q.beforeId) return false;
  return true;
}

const MAX_USER_AGENT = 256;
// Where a credential starts (an API key, a session token, a JWT, an Authorization value): that and
// everything after it goes, so a token split by spaces into short runs is redacted whole.
const TOKEN_START = /(?:wf_|sess_|eyJ|bearer\b)/i;
const TOKEN_LIKE = /[0-9A-Za-z+/_=-]{32,}/g;

/**
 * A caller-supplied string (user agent) as it may be stored and logged: printable (control and bidi
 * characters become visible escapes), at most 256 characters, cut at anything that looks like the
 * start of a credential (wf_, sess_, eyJ, "Bearer") with the rest replaced by "[redacted]", and any
 * long opaque run redacted too, so a client that puts a credential in its User-Agent (even split
 * into short pieces) does not get it written to the audit trail.
 */
export function sanitizeClientText(value: string | undefined): string | undefined {
  if (value === undefined || value === "") return undefined;
  let clean = value.slice(0, 4 * MAX_USER_AGENT);
  const cut = TOKEN_START.exec(clean);
  if (cut) clean = `${clean.slice(0, cut.index)}[redacted]`;
  clean = escapeUnprintable(clean.replace(TOKEN_LIKE, "[redacted]"));
  return clean.length > MAX_USER_AGENT ? `${clean.slice(0, MAX_USER_AGENT - 1)}…` : clean;
}

const MAX_IDENTITY = 256;

/** An identity string from a credential (a JWT's sub) as it is stored as an actor: escaped, bounded. */
export function sanitizeIdentity(value: string): string {
  const clean = escapeUnprintable(value.slice(0, 4 * MAX_IDENTITY));
  return clean.length > MAX_IDENTITY ? `${clean.slice(0, MAX_IDENTITY - 1)}…` : clean;
}
