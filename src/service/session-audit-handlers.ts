import { create } from "@bufbuild/protobuf";
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import type { AdminApi } from "../domain/admin-api.js";
import { auditPageSize, type AuditQuery } from "../domain/audit.js";
import { decodeAuditPageToken, encodeAuditPageToken } from "../domain/audit-page-token.js";
import { invalidArgument, PartialRevocationError } from "../domain/errors.js";
import { requireSessionId } from "../domain/key-rules.js";
import * as pb from "../gen/warpflow/auth/v1/token_service_pb.js";
import { anyTenantOf, tenantOf, type AdminCall } from "./admin-call.js";
import { fromProtoAction, toAuditEvent, toSession } from "./audit-mapping.js";
import type { UnaryHandlers } from "../transport/protocol/unary-handlers.js";

type Handlers = UnaryHandlers<typeof pb.TokenService>;

// google.protobuf.Timestamp's range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z.
const MIN_SECONDS = -62_135_596_800n;
const MAX_SECONDS = 253_402_300_799n;

/** A filter time: out of range (a Date would be invalid and the filter silently dropped) is refused. */
function timeOf(t: Timestamp, field: string): Date {
  if (t.seconds < MIN_SECONDS || t.seconds > MAX_SECONDS || t.nanos < 0 || t.nanos > 999_999_999) {
    throw invalidArgument(field, "must be a time between the years 1 and 9999");
  }
  return timestampDate(t);
}

/** RevokeSession, RevokeTenantSessions and ListAuditEvents (see token-service-handlers.ts). */
export function createSessionAndAuditHandlers(deps: {
  admin: AdminApi;
  call: AdminCall;
}): Pick<Handlers, "revokeSession" | "revokeTenantSessions" | "listAuditEvents"> {
  const { admin, call } = deps;
  return {
    revokeSession: (req, ctx) =>
      call(
        {
          action: "session.revoke",
          permission: "revoke_session",
          tenant: tenantOf,
          fields: (r) => ({ sessionId: requireSessionId(r.sessionId) }),
        },
        req,
        ctx,
        async (c) => {
          await c.audit.begin();
          return create(pb.RevokeSessionResponseSchema, {
            session: toSession(await admin.sessions.revoke(c.tenantId, c.fields.sessionId, c.principal.actor)),
          });
        },
      ),

    revokeTenantSessions: (req, ctx) =>
      call(
        { action: "sessions.revoke_all", permission: "revoke_tenant_sessions", tenant: tenantOf },
        req,
        ctx,
        async (c) => {
          await c.audit.begin();
          const revokedCount = await admin.sessions.revokeAll(c.tenantId, c.principal.actor).catch((err: unknown) => {
            // UNAVAILABLE part-way: the event records how many were revoked (a retry revokes the rest).
            if (err instanceof PartialRevocationError)
              c.audit.detail(`revoked ${err.revokedCount} sessions before the store stopped; retry to revoke the rest`);
            throw err;
          });
          c.audit.detail(`revoked ${revokedCount} sessions`);
          return create(pb.RevokeTenantSessionsResponseSchema, { revokedCount });
        },
      ),

    listAuditEvents: (req, ctx) =>
      call(
        { action: "audit.list", permission: "list_audit_events", tenant: anyTenantOf, fields: auditFilters },
        req,
        ctx,
        async (c) => {
          const { limit, filters, beforeId } = c.fields;
          // One more than a page: whether there is a next page, without a second query.
          const events = await admin.audit.list({ ...filters, beforeId, limit: limit + 1 });
          const page = events.slice(0, limit);
          const more = events.length > limit;
          return create(pb.ListAuditEventsResponseSchema, {
            events: page.map(toAuditEvent),
            nextPageToken: more ? encodeAuditPageToken(filters, page.at(-1)!.id) : "",
          });
        },
      ),
  };
}

/** ListAuditEvents' fields, validated after its tenant and before authorization. */
function auditFilters(req: pb.ListAuditEventsRequest, tenantId: string) {
  const limit = auditPageSize(req.pageSize);
  const action = fromProtoAction(req.action);
  if (action === undefined && req.action !== pb.AuditAction.UNSPECIFIED)
    throw invalidArgument("action", `unknown action ${req.action}`);
  const filters: Omit<AuditQuery, "limit"> = {
    tenantId,
    action,
    since: req.since ? timeOf(req.since, "since") : undefined,
    until: req.until ? timeOf(req.until, "until") : undefined,
  };
  const beforeId = req.pageToken === "" ? undefined : decodeAuditPageToken(req.pageToken, filters);
  return { limit, filters, beforeId };
}
