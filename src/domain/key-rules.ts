import { hasUnprintable } from "./printable.js";
import { randomBase62 } from "./base62.js";
import { invalidArgument } from "./errors.js";
import type { KeyRecord } from "./records.js";

export const MAX_ACTIVE_KEYS_PER_TENANT = 3;
/** DEPRECATED keys a tenant may hold in their grace at once; a rotation that would make one more is refused. */
export const MAX_DEPRECATED_KEYS_PER_TENANT = 3;
export const ROTATION_GRACE_MS = 72 * 60 * 60 * 1000;
export const SESSION_TTL_MS = 60 * 60 * 1000;
/** ListKeys answers every non-revoked key and at most this many revoked keys, newest first. */
export const LIST_KEYS_LIMIT = 200;

export type KeyStatus = "active" | "deprecated" | "revoked";

/**
 * What a key is at `now`. A deprecated key is revoked from the instant its grace ends, whether or
 * not a sweep has stored that yet: correctness never waits for a background job.
 */
export function effectiveKey(key: KeyRecord, now: Date): KeyRecord {
  const end = endedAt(key, now);
  return end ? { ...key, status: "revoked", revokedAt: end } : key;
}

export function effectiveStatus(key: KeyRecord, now: Date): KeyStatus {
  return endedAt(key, now) ? "revoked" : key.status;
}

/**
 * When a key not stored as REVOKED stopped working by the clock, if it did: the earlier of its
 * grace end (deprecated) and its expiry (issue 22; key-expiry.ts tells the two apart).
 */
function endedAt(key: KeyRecord, now: Date): Date | undefined {
  if (key.status === "revoked") return undefined;
  const grace = key.status === "deprecated" ? key.revokeAt : undefined;
  const end = grace === undefined || (key.expiresAt !== undefined && key.expiresAt < grace) ? key.expiresAt : grace;
  return end !== undefined && end <= now ? end : undefined;
}

const KEY_ID_RE = /^key_[0-9A-Za-z]{20}$/;
export const newKeyId = (): string => `key_${randomBase62(20)}`;
export const newSessionId = (): string => `ses_${randomBase62(20)}`;
export const isKeyId = (value: string): boolean => KEY_ID_RE.test(value);

export function requireKeyId(value: string, field = "key_id"): string {
  if (value === "") throw invalidArgument(field, "is required");
  if (!isKeyId(value)) throw invalidArgument(field, "must look like key_ followed by 20 letters or digits");
  return value;
}

const SESSION_ID_RE = /^ses_[0-9A-Za-z]{20}$/;
export const isSessionId = (value: string): boolean => SESSION_ID_RE.test(value);

export function requireSessionId(value: string, field = "session_id"): string {
  if (value === "") throw invalidArgument(field, "is required");
  if (!isSessionId(value)) throw invalidArgument(field, "must look like ses_ followed by 20 letters or digits");
  return value;
}

/** What every token carries: its 32-character secret (a JWT: far longer segments). */
const CREDENTIAL_RUN = /[0-9A-Za-z+/_=-]{32,}/;

export function requireLabel(value: string, field = "label"): string {
  const label = value.trim();
  if (label === "") throw invalidArgument(field, "is required (1-100 printable characters)");
  if ([...label].length > 100) throw invalidArgument(field, "must be at most 100 characters");
  // Printable: no control characters (C0, DEL, C1), line separators or bidi overrides (U+202E).
  if (hasUnprintable(label))
    throw invalidArgument(field, "must contain only printable characters (no control, format or bidi characters)");
  // Labels are shown to everyone who may list the tenant's keys: a pasted credential must not be kept.
  if (CREDENTIAL_RUN.test(label))
    throw invalidArgument(
      field,
      "must not contain a credential (a run of 32 or more letters, digits, '_', '-', '+', '/' or '=')",
    );
  return label;
}
