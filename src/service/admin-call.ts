// The one sequence every admin RPC runs, declared once: inside its audit event (audited-call.ts),
// authenticate the caller, validate the tenant and the other fields, authorize the action on that
// tenant, record the target (log line and audit event), then run the call's own body.
//
//   createKey: admin.call({ action: "key.create", permission: "create_key", tenant: tenantOf,
//                           fields: (r) => ({ label: requireLabel(r.label) }) }, async (c) => ...)
//
// The order is part of the contract: a missing or unknown credential is UNAUTHENTICATED before any
// field is looked at; a malformed field is INVALID_ARGUMENT before authorization; a caller not
// allowed on the tenant is PERMISSION_DENIED before anything is read or changed.
import type { AdminApi } from "../domain/admin-api.js";
import type { AuditAction } from "../domain/audit.js";
import type { AdminAction, Principal } from "../domain/principal.js";
import { DomainError } from "../domain/errors.js";
import { NOT_VALID } from "../domain/principal.js";
import { requireTenantId } from "../domain/tenant-id.js";
import type { CallContext } from "../transport/protocol/unary-handlers.js";
import type { AuditedCall, AuditScope } from "./audited-call.js";
import { peerAddress } from "./grant-fields.js";

/** The request fields an audit event may name (used only if well formed, see audited-call.ts). */
type AuditRequest = { tenantId?: string; keyId?: string; sessionId?: string };

/** What a call's fields validate to; `keyId` and `sessionId`, if present, become the call's target. */
type Fields = { keyId?: string; sessionId?: string };

export interface AdminRule<Req, F extends object> {
  action: AuditAction;
  permission: AdminAction;
  /** The tenant the call acts on, validated (INVALID_ARGUMENT when malformed). */
  tenant(req: Req): string;
  /** The call's other fields, validated after the tenant and before authorization. */
  fields?(req: Req, tenantId: string): F;
  /** What the audit event may name before validation; default: the request itself. */
  auditRequest?(req: Req): AuditRequest;
}

export interface AdminCallContext<F> {
  principal: Principal;
  tenantId: string;
  fields: F;
  audit: AuditScope;
  /** Records the call's target (log line and audit event), e.g. a key created by the call. */
  target(t: { keyId?: string; sessionId?: string }): void;
}

export type AdminCall = <Req extends object, F extends object, Res>(
  rule: AdminRule<NoInfer<Req>, F>,
  req: Req,
  ctx: CallContext,
  body: (call: AdminCallContext<F>) => Promise<Res>,
) => Promise<Res>;

/** The tenant of a tenant-scoped call (the admin tenant is refused). */
export const tenantOf = (req: { tenantId: string }) => requireTenantId(req.tenantId);
/** The tenant of a call an admin may also make on the admin tenant. */
export const anyTenantOf = (req: { tenantId: string }) => requireTenantId(req.tenantId, "tenant_id", true);

export function createAdminCall(
  admin: AdminApi,
  audited: AuditedCall,
  opts: {
    /**
     * The introspection caller restriction is on (introspect-callers.ts): a credential that may take
     * no admin action at all (a tenant's key, session or non-admin Cognito user) is answered as a
     * dead one. Otherwise PERMISSION_DENIED against UNAUTHENTICATED would tell a caller without the
     * caller credential which tokens are valid: the oracle the restriction exists to close.
     */
    concealMembers?: boolean;
  } = {},
): AdminCall {
  return (rule, req, ctx, body) =>
    audited(rule.action, ctx, rule.auditRequest?.(req) ?? (req as AuditRequest), async (audit) => {
      // A key with an IP allowlist is checked against the caller's own address (issue 22).
      const principal = await admin.authenticate(ctx.bearer, peerAddress(ctx.peer));
      if (opts.concealMembers && principal.kind === "tenant_member")
        throw new DomainError("unauthenticated", NOT_VALID); // before anything records the caller
      ctx.actor = principal.actor;
      audit.principal(principal);
      const tenantId = rule.tenant(req);
      const fields = (rule.fields?.(req, tenantId) ?? {}) as Parameters<typeof body>[0]["fields"];
      const named = fields as Fields;
      admin.authorize(principal, rule.permission, tenantId);
      const target = (t: { keyId?: string; sessionId?: string }) => {
        if (t.keyId !== undefined) ctx.keyId = t.keyId;
        audit.target(t);
      };
      ctx.tenantId = tenantId;
      audit.target({ tenantId });
      target({ keyId: named.keyId, sessionId: named.sessionId });
      return body({ principal, tenantId, fields, audit, target });
    });
}
