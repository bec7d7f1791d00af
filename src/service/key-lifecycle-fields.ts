// Issue 22: the request fields of expiry, rotation grace and the tenant's maximum key lifetime,
// proto -> domain. Each refusal is INVALID_ARGUMENT naming the field, never echoing the value.
// Checks against the clock and the tenant's policy happen in the domain (key-expiry.ts).
import { timestampDate, type Duration, type FieldMask, type Timestamp } from "@bufbuild/protobuf/wkt";
import { invalidArgument } from "../domain/errors.js";
import {
  formatDuration,
  MAX_KEY_LIFETIME_CAP_MS,
  requireGraceMs,
  requireMaxKeyLifetimeMs,
  type ExpiryRequest,
} from "../domain/key-expiry.js";
import type { PolicyField } from "../ports/token-store.js";

// google.protobuf.Timestamp's range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
const MIN_SECONDS = -62_135_596_800n;
const MAX_SECONDS = 253_402_300_799n;
// google.protobuf.Duration's range: +-10,000 years.
const MAX_DURATION_SECONDS = 315_576_000_000n;

function timeOf(t: Timestamp, field: string): Date {
  if (t.seconds < MIN_SECONDS || t.seconds > MAX_SECONDS || t.nanos < 0 || t.nanos > 999_999_999) {
    throw invalidArgument(field, "must be a time between the years 1 and 9999");
  }
  return timestampDate(t);
}

/** A Duration in whole milliseconds (sub-millisecond nanos dropped); out of Duration's range: refused. */
export function durationMs(d: Duration, field: string): number {
  const s = d.seconds;
  const sameSign = s === 0n || d.nanos === 0 || s > 0n === d.nanos > 0;
  if (s > MAX_DURATION_SECONDS || s < -MAX_DURATION_SECONDS || d.nanos <= -1e9 || d.nanos >= 1e9 || !sameSign) {
    throw invalidArgument(field, "must be a valid duration");
  }
  return Number(s) * 1000 + Math.trunc(d.nanos / 1e6);
}

type ExpiryOneof =
  | { case: "expiresAt" | "successorExpiresAt"; value: Timestamp }
  | { case: "expiresIn" | "successorExpiresIn"; value: Duration }
  | { case: undefined; value?: undefined };

const FIELD_NAMES = {
  expiresAt: "expires_at",
  expiresIn: "expires_in",
  successorExpiresAt: "successor_expires_at",
  successorExpiresIn: "successor_expires_in",
} as const;

/** CreateKey's `expiry` / RotateKey's `successor_expiry` oneof: shape only (the future and the maximum: domain). */
export function expiryOf(oneof: ExpiryOneof): ExpiryRequest {
  if (oneof.case === undefined) return undefined;
  const field = FIELD_NAMES[oneof.case];
  if (oneof.case === "expiresAt" || oneof.case === "successorExpiresAt") {
    return { at: timeOf(oneof.value, field), field };
  }
  const ms = durationMs(oneof.value as Duration, field);
  if (ms < 1000 || ms > MAX_KEY_LIFETIME_CAP_MS) {
    throw invalidArgument(field, `must be between 1s and ${formatDuration(MAX_KEY_LIFETIME_CAP_MS)}`);
  }
  return { inMs: ms, field };
}

/** RotateKey's grace: 0 to 72 hours; unset: undefined (the domain's default, 72 hours). */
export const graceOf = (grace: Duration | undefined): number | undefined =>
  grace === undefined ? undefined : requireGraceMs(durationMs(grace, "grace"));

const MASK_PATHS: Record<string, PolicyField> = { hipaa_enabled: "hipaaEnabled", max_key_lifetime: "maxKeyLifetimeMs" };

/**
 * SetTenantPolicy's fields: which to set, and the maximum (undefined: none). Without update_mask:
 * hipaa_enabled, plus max_key_lifetime when present (so a caller that knows nothing of it keeps it).
 */
export function policyUpdateOf(req: {
  hipaaEnabled?: boolean;
  maxKeyLifetime?: Duration | undefined;
  updateMask?: FieldMask | undefined;
}): {
  fields: PolicyField[];
  maxKeyLifetimeMs: number | undefined;
} {
  const maxKeyLifetimeMs =
    req.maxKeyLifetime === undefined
      ? undefined
      : requireMaxKeyLifetimeMs(durationMs(req.maxKeyLifetime, "max_key_lifetime"));
  if (req.updateMask === undefined) {
    // The old request shape (no maximum) sets hipaa_enabled. A request with a maximum and no mask
    // never turns HIPAA off: proto3 cannot tell `false` from "not given", and a caller setting only
    // the maximum must not silently re-enable a HIPAA tenant's API keys (fail closed).
    if (maxKeyLifetimeMs === undefined) return { fields: ["hipaaEnabled"], maxKeyLifetimeMs };
    return {
      fields: req.hipaaEnabled === true ? ["hipaaEnabled", "maxKeyLifetimeMs"] : ["maxKeyLifetimeMs"],
      maxKeyLifetimeMs,
    };
  }
  const paths = req.updateMask.paths;
  if (paths.length === 0 || paths.length > 2) {
    throw invalidArgument("update_mask", "must name hipaa_enabled, max_key_lifetime or both");
  }
  const fields: PolicyField[] = [];
  for (const p of paths) {
    const f = Object.hasOwn(MASK_PATHS, p) ? MASK_PATHS[p] : undefined;
    if (f === undefined) throw invalidArgument("update_mask", "may name only hipaa_enabled and max_key_lifetime");
    if (!fields.includes(f)) fields.push(f);
  }
  return { fields, maxKeyLifetimeMs };
}

/** The key.rotate event's detail (issue 22): the old key's grace end and the successor's expiry. */
export const rotationDetail = (revokeAt: Date | undefined, expiresAt: Date | undefined): string =>
  `${revokeAt ? `; previous revoke_at ${revokeAt.toISOString()}` : ""}${expiresAt ? `; expires_at ${expiresAt.toISOString()}` : ""}`;

/** The policy.set event's detail: the fields set, with their new values. */
export function policyDetail(
  hipaaEnabled: boolean,
  update: { fields: readonly PolicyField[]; maxKeyLifetimeMs: number | undefined },
): string {
  return update.fields
    .map((f) =>
      f === "hipaaEnabled"
        ? `hipaa_enabled=${hipaaEnabled}`
        : `max_key_lifetime=${update.maxKeyLifetimeMs === undefined ? "none" : formatDuration(update.maxKeyLifetimeMs)}`,
    )
    .join(" ");
}
