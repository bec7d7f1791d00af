// GitHub's secret scanning partner format, after the signature verified: the body is a JSON array
// of matches {token, type, url, source}; the answer is GitHub's feedback shape, one entry per
// distinct token: {token_hash (SHA-256 hex of the token), token_type, label}.
// https://docs.github.com/en/code-security/secret-scanning/secret-scanning-partnership-program/secret-scanning-partner-program
import { invalidArgument } from "./errors.js";
import { escapeUnprintable } from "./printable.js";

export interface ExposureReport {
  token: string;
  type: string;
  url: string;
  source: string;
}

export type ExposureLabel = "true_positive" | "false_positive";

export interface ExposureFeedback {
  token_hash: string;
  token_type: string;
  label: ExposureLabel;
}

/** Bounds of what a report's fields may add to a key record, an audit event or a log line. */
export const EXPOSURE_FIELD_MAX = { type: 64, source: 64, url: 512 } as const;

/**
 * Matches one alert may carry. The body's byte bound (SECRET_SCANNING_MAX_BODY_BYTES, 1 MiB by
 * default: about 6,500 real matches of ~160 bytes) comes first; this bounds the work of a body of
 * tiny entries (`{}` is 3 bytes: 1 MiB would be 350,000 of them).
 */
export const MAX_ALERT_MATCHES = 10_000;

export interface ParsedAlert {
  /** The readable matches, in order. */
  reports: ExposureReport[];
  /** Entries left out: not an object, or without a string `token` (nothing to judge or hash). */
  unreadable: number;
}

/**
 * The matches of a verified alert body. The body must be a JSON array of at most MAX_ALERT_MATCHES
 * entries; otherwise INVALID_ARGUMENT (the whole alert, with a message that names no value).
 * Each entry is read on its own: one GitHub cannot have meant (not an object, no string `token`)
 * is left out and counted in `unreadable`, and the others are still judged: GitHub's feedback is
 * keyed by the token's hash, so an entry without a token has no feedback to give. A `type`,
 * `url` or `source` that is missing or not a string reads as "" (older senders had no source): it
 * only describes the leak, and a live key reported with an odd description is still a leaked key.
 */
export function parseAlertBody(body: Buffer): ParsedAlert {
  let json: unknown;
  try {
    json = JSON.parse(body.toString("utf8"));
  } catch {
    throw invalidArgument("body", "not valid JSON");
  }
  if (!Array.isArray(json)) throw invalidArgument("body", "must be a JSON array of matches");
  if (json.length > MAX_ALERT_MATCHES) throw invalidArgument("body", `must hold at most ${MAX_ALERT_MATCHES} matches`);
  const reports: ExposureReport[] = [];
  let unreadable = 0;
  for (const m of json as unknown[]) {
    if (typeof m !== "object" || m === null || Array.isArray(m)) {
      unreadable++;
      continue;
    }
    const { token, type, url, source } = m as Record<string, unknown>;
    if (typeof token !== "string") {
      unreadable++;
      continue;
    }
    reports.push({ token, type: text(type), url: text(url), source: text(source) });
  }
  return { reports, unreadable };
}

const text = (v: unknown): string => (typeof v === "string" ? v : "");

/**
 * A report field as it may be stored, audited and logged: the token itself (should a scanner put it
 * in a URL) replaced, unprintable characters escaped, at most `max` characters.
 */
export function reportField(value: string, token: string, max: number): string {
  const cut = token.length > 0 ? value.split(token).join("[redacted]") : value;
  const clean = escapeUnprintable(cut.slice(0, 4 * max));
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}

/** The audit detail of a key.exposed event: the report's type, source and url, bounded. */
export function exposureDetail(e: { type: string; source: string; url: string }): string {
  return `type=${e.type} source=${e.source} url=${e.url}`;
}
