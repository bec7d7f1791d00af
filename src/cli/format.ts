// Human-readable output for the admin CLI (--output json prints the proto JSON instead). Every string
// that came from the server goes through `safe`: control and bidi characters are printed as visible
// escapes (\x1b, \x0d, \u202e), so a hostile label, actor or user agent cannot clear the screen,
// forge a line or hide one.
import { grantCells, grantHeaders } from "./grant-options.js";
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import type { ApiKey, TenantPolicy } from "../gen/warpflow/auth/v1/token_service_pb.js";
import { escapeUnprintable } from "../domain/printable.js";
import { keyState, type KeyState } from "./key-state.js";
import { formatDuration as lifetimeText } from "../domain/key-expiry.js";
import { relative, relativeTime, renderTable, type Paint } from "./table.js";

export const safe = (text: string): string => escapeUnprintable(text);

/** JSON text with C1, DEL and bidi characters as \uXXXX too (JSON.stringify leaves them raw). */
export const escapeJsonText = (json: string): string =>
  json.replace(
    /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/gu,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );

export interface Look {
  paint: Paint;
  now: Date;
}

export function describeState(s: KeyState, { paint, now }: Look): string {
  const when = s.at ? relativeTime(s.at, now) : "";
  switch (s.state) {
    case "active":
      return paint.green("active");
    case "deprecated":
      return paint.yellow(`deprecated, revoked ${when}`);
    case "revoked":
      if (s.exposed) return paint.red(`exposed${exposedWhere(s.exposed)}, revoked${when ? ` ${when}` : ""}`);
      return paint.red(when ? `revoked ${when}` : "revoked");
    case "inactive_tenant_policy":
      return paint.red("inactive: tenant policy (HIPAA)");
    case "expired":
      return paint.red(`expired ${when}`);
    case "suspended":
      return paint.red(`suspended ${when}`);
    default:
      return s.state;
  }
}

/** " in commit (https://github.com/...)": the URL cut to 60 characters, so the table stays readable. */
function exposedWhere(e: { source: string; url: string }): string {
  const url = e.url.length > 60 ? `${e.url.slice(0, 59)}…` : e.url;
  return `${e.source ? ` in ${safe(e.source)}` : ""}${url ? ` (${safe(url)})` : ""}`;
}
/** Issue 22: a live key's expiry after its state ("active, expires in 89 days"). */
const withExpiry = (text: string, s: KeyState, now: Date): string =>
  s.expiresAt && (s.state === "active" || s.state === "deprecated")
    ? `${text}, expires ${relativeTime(s.expiresAt, now)}`
    : text;

/** One row per key: ID, LABEL, STATE (effective, see key-state.ts), HINT, CREATED, LAST USED. */
export function keyTable(keys: ApiKey[], policy: TenantPolicy | undefined, look: Look): string {
  return renderTable(
    ["ID", "LABEL", "STATE", "HINT", "CREATED", "LAST USED", ...grantHeaders(keys)],
    keys.map((k) => [
      safe(k.id),
      safe(k.label),
      ((s) => withExpiry(describeState(s, look), s, look.now))(keyState(k, policy, look.now)),
      safe(k.hint),
      relative(k.createdAt, look.now),
      relative(k.lastUsedAt, look.now),
      ...grantCells(k, keys),
    ]),
  );
}

export function formatSecret(label: string, token: string): string {
  return `${label} (shown only once, store it now):\n  ${safe(token)}`;
}

export function formatPolicy(p: TenantPolicy | undefined, look: Look): string {
  if (!p) return "no policy";
  const hipaa = p.hipaaEnabled ? look.paint.yellow("on (API keys inactive)") : "off";
  const max = p.maxKeyLifetime ? `, max key lifetime ${lifetimeText(Number(p.maxKeyLifetime.seconds) * 1000)}` : "";
  return `tenant ${safe(p.tenantId)}: HIPAA ${hipaa}${max}, updated ${relative(p.updatedAt, look.now)}`;
}

export function formatTime(t: Timestamp | undefined): string {
  return t ? timestampDate(t).toISOString() : "-";
}
