// Issue 22: key expiry, the tenant's maximum key lifetime and the rotation grace a caller chooses.
// Pure rules on values; the edge (service/) checks a field's shape, these check it against the
// clock and the tenant's policy. An expired key is inactive (EXPIRED) from its expiresAt, whether
// or not the sweep (key-expiry-sweep.ts) has stored it as revoked yet.
import { invalidArgument } from "./errors.js";
import { effectiveKey, ROTATION_GRACE_MS } from "./key-rules.js";
import type { KeyRecord } from "./records.js";

const HOUR_MS = 60 * 60 * 1000;
const DAY_MS = 24 * HOUR_MS;
/** The longest rotation grace a caller may choose (the documented 72-hour promise is the default). */
export const MAX_ROTATION_GRACE_MS = ROTATION_GRACE_MS;
/** No key lives longer than this, policy or not (and no tenant maximum is longer). */
export const MAX_KEY_LIFETIME_CAP_MS = 3650 * DAY_MS;
/** The shortest tenant maximum (a shorter one would make rotation itself a race). */
export const MIN_MAX_KEY_LIFETIME_MS = HOUR_MS;

/** A requested expiry: an instant, or a lifetime from now (already checked positive and bounded). */
export type ExpiryRequest = { at: Date; field: string } | { inMs: number; field: string } | undefined;

/** "365d", "36h", "90m", "45s" or "1500ms": the largest unit that divides the value exactly. */
export function formatDuration(ms: number): string {
  for (const [unit, size] of [
    ["d", DAY_MS],
    ["h", HOUR_MS],
    ["m", 60_000],
    ["s", 1000],
  ] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/**
 * The expiry of a new key: the one requested (INVALID_ARGUMENT, naming the field and the maximum,
 * when it is not in the future or is later than the tenant's maximum allows), or, when none was
 * requested, the tenant's maximum from now (a missing expiry under a maximum gets the maximum), or
 * none. A refused value is never echoed.
 */
export function resolveExpiry(req: ExpiryRequest, maxLifetimeMs: number | undefined, now: Date): Date | undefined {
  if (req === undefined) return maxLifetimeMs === undefined ? undefined : new Date(now.getTime() + maxLifetimeMs);
  const at = "at" in req ? req.at : new Date(now.getTime() + req.inMs);
  const lifetime = at.getTime() - now.getTime();
  if (lifetime <= 0) throw invalidArgument(req.field, "must be in the future");
  if (maxLifetimeMs !== undefined && lifetime > maxLifetimeMs) {
    throw invalidArgument(
      req.field,
      `is later than the tenant's max_key_lifetime of ${formatDuration(maxLifetimeMs)} from now allows (ask for ${formatDuration(maxLifetimeMs)} or less)`,
    );
  }
  if (lifetime > MAX_KEY_LIFETIME_CAP_MS) {
    throw invalidArgument(req.field, `must be at most ${formatDuration(MAX_KEY_LIFETIME_CAP_MS)} from now`);
  }
  return at;
}

/**
 * A rotation's successor: the requested expiry (as for a new key), else the old key's lifetime
 * length again from now (if it had one), clamped to the tenant's maximum as of now, else the
 * tenant's maximum, else none. Clamped rather than refused: rotation is how a key under a policy
 * tightened since its creation is brought within it.
 */
export function successorExpiry(
  previous: KeyRecord,
  req: ExpiryRequest,
  maxLifetimeMs: number | undefined,
  now: Date,
): Date | undefined {
  if (req !== undefined) return resolveExpiry(req, maxLifetimeMs, now);
  if (previous.expiresAt === undefined) return resolveExpiry(undefined, maxLifetimeMs, now);
  const length = Math.max(previous.expiresAt.getTime() - previous.createdAt.getTime(), 1000);
  return new Date(now.getTime() + Math.min(length, maxLifetimeMs ?? length, MAX_KEY_LIFETIME_CAP_MS));
}

/** The earlier of two optional instants. */
export const earliest = (a: Date | undefined, b: Date | undefined): Date | undefined =>
  a === undefined ? b : b === undefined || a <= b ? a : b;

/** When the key stops working by the clock alone: the earlier of its expiry and (deprecated) its grace end. */
export const keyDeadline = (key: KeyRecord): Date | undefined =>
  earliest(key.expiresAt, key.status === "deprecated" ? key.revokeAt : undefined);

/**
 * Why a key is inactive at `now`, if it is: revoked (by a call, or its grace ended first), expired
 * (its expiry came first; the sweep stores it revoked as of its expiresAt), or suspended.
 */
export function keyInactiveReason(key: KeyRecord, now: Date): "revoked" | "expired" | "suspended" | undefined {
  const k = effectiveKey(key, now);
  if (k.status === "revoked") {
    return key.expiresAt !== undefined && k.revokedAt !== undefined && k.revokedAt >= key.expiresAt
      ? "expired"
      : "revoked";
  }
  return key.suspendedAt !== undefined ? "suspended" : undefined;
}

/** RotateKey's grace: 0 to 72 hours (checked at the edge); unset: 72 hours. */
export function requireGraceMs(ms: number | undefined, field = "grace"): number {
  if (ms === undefined) return ROTATION_GRACE_MS;
  if (!Number.isFinite(ms) || ms < 0 || ms > MAX_ROTATION_GRACE_MS) {
    throw invalidArgument(field, `must be between 0 and ${formatDuration(MAX_ROTATION_GRACE_MS)}`);
  }
  return ms;
}

/** A tenant's max_key_lifetime: 1 hour to 3650 days. */
export function requireMaxKeyLifetimeMs(ms: number, field = "max_key_lifetime"): number {
  if (!Number.isFinite(ms) || ms < MIN_MAX_KEY_LIFETIME_MS || ms > MAX_KEY_LIFETIME_CAP_MS) {
    throw invalidArgument(
      field,
      `must be between ${formatDuration(MIN_MAX_KEY_LIFETIME_MS)} and ${formatDuration(MAX_KEY_LIFETIME_CAP_MS)}`,
    );
  }
  return ms;
}
