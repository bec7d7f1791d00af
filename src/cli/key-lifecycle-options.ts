// Issue 22's CLI values: a lifetime or grace like 90d, 24h, 30m, 0h; an expiry that is such a
// lifetime or an ISO time (2027-01-01T00:00:00Z). A bad value is a usage error naming the option,
// never echoing the value.
import { durationFromMs, timestampFromDate, type Duration, type Timestamp } from "@bufbuild/protobuf/wkt";
import { CliError } from "./exit-codes.js";

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const LIFETIME = /^(\d{1,7})([smhd])$/;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})$/;

/** "90d" -> ms, or undefined when the text is not a lifetime. */
export function lifetimeMs(text: string): number | undefined {
  const m = LIFETIME.exec(text);
  return m ? Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS] : undefined;
}

/** A duration option (--grace, --max-key-lifetime): "24h", "0h", "365d". */
export function durationOption(command: string, flag: string, text: string): Duration {
  const ms = lifetimeMs(text);
  if (ms === undefined) throw new CliError(`${command}: ${flag} must be a duration like 24h, 90d or 0h`);
  return durationFromMs(ms);
}

export type ExpiryValue = { kind: "in"; value: Duration } | { kind: "at"; value: Timestamp };

/** An --expires option: a lifetime from now ("90d") or an ISO time ("2027-01-01T00:00:00Z"). */
export function expiryOption(command: string, text: string): ExpiryValue {
  const ms = lifetimeMs(text);
  if (ms !== undefined) return { kind: "in", value: durationFromMs(ms) };
  const at = ISO_TIME.test(text) ? new Date(text) : undefined;
  if (!at || Number.isNaN(at.getTime())) {
    throw new CliError(`${command}: --expires must be a lifetime like 90d or an ISO time like 2027-01-01T00:00:00Z`);
  }
  return { kind: "at", value: timestampFromDate(at) };
}
