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
 * The matches of a verified alert body. Structural errors are INVALID_ARGUMENT with a message that
 * names the position, never a value. A missing type, url or source reads as "" (older senders
 * had no source).
 */
export function parseAlertBody(body: Buffer): ExposureReport[] {
  let json: unknown;
  try {
    json = JSON.parse(body.toString("utf8"));
  } catch {
    throw invalidArgument("body", "not valid JSON");
  }
  if (!Array.isArray(json)) throw invalidArgument("body", "must be a JSON array of matches");
  return json.map((m: unknown, i) => {
    if (typeof m !== "object" || m === null || Array.isArray(m))
      throw invalidArgument(`body[${i}]`, "must be an object");
    const { token, type, url, source } = m as Record<string, unknown>;
    if (typeof token !== "string") throw invalidArgument(`body[${i}].token`, "must be a string");
    for (const [name, v] of [
      ["type", type],
      ["url", url],
      ["source", source],
    ] as const) {
      if (v !== undefined && typeof v !== "string") throw invalidArgument(`body[${i}].${name}`, "must be a string");
    }
    return {
      token,
      type: (type as string | undefined) ?? "",
      url: (url as string | undefined) ?? "",
      source: (source as string | undefined) ?? "",
    };
  });
}

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
