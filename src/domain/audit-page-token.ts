// ListAuditEvents page tokens: the filters of the first request and the last id returned. The next
// page is every matching event with a smaller id, so events written meanwhile (larger ids) never
// shift a page: nothing is skipped or repeated. A token used with other filters is refused.
import { isAuditEventId, type AuditQuery } from "./audit.js";
import { invalidArgument } from "./errors.js";

type Filters = Pick<AuditQuery, "tenantId" | "action" | "since" | "until">;

interface TokenBody {
  v: 1;
  t: string;
  a?: string;
  s?: number;
  u?: number;
  b: string;
}

const body = (f: Filters, beforeId: string): TokenBody => ({
  v: 1,
  t: f.tenantId,
  ...(f.action !== undefined ? { a: f.action } : {}),
  ...(f.since !== undefined ? { s: f.since.getTime() } : {}),
  ...(f.until !== undefined ? { u: f.until.getTime() } : {}),
  b: beforeId,
});

export function encodeAuditPageToken(f: Filters, lastId: string): string {
  return Buffer.from(JSON.stringify(body(f, lastId))).toString("base64url");
}

/** The cursor (beforeId) of a page token, checked against the request's filters. */
export function decodeAuditPageToken(token: string, f: Filters): string {
  const bad = () => invalidArgument("page_token", "is not a page token of this listing (filters must be unchanged)");
  if (token.length > 512 || !/^[A-Za-z0-9_-]+$/.test(token)) throw bad();
  const raw = Buffer.from(token, "base64url").toString("utf8");
  let parsed: Partial<TokenBody> | null;
  try {
    parsed = JSON.parse(raw) as Partial<TokenBody> | null;
  } catch {
    throw bad();
  }
  if (typeof parsed !== "object" || parsed === null || typeof parsed.b !== "string" || !isAuditEventId(parsed.b))
    throw bad();
  // Exactly the token this listing would have issued (same filters, same encoding).
  if (JSON.stringify(body(f, parsed.b)) !== raw) throw bad();
  return parsed.b;
}
