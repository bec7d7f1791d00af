// Who is calling an admin RPC, resolved from the caller's bearer token.
// - platform_admin: an API key of the reserved tenant `admin`; may act on any tenant.
// - tenant_admin: a Cognito user in the admin group; may manage its own tenant's keys.
// - tenant_member: any other valid credential; may not call admin RPCs.
import { sanitizeIdentity, type AuditActor } from "./audit.js";
import { DomainError } from "./errors.js";
import type { Introspection } from "./introspection.js";
import { ADMIN_TENANT_ID } from "./tenant-id.js";

export type Principal =
  | {
      kind: "platform_admin";
      actor: string;
      scopes?: readonly string[] | undefined;
      /** A rotated admin key in its grace: it may not manage admin keys (see authorize). */
      deprecated?: true | undefined;
    }
  | { kind: "tenant_admin"; tenantId: string; actor: string; scopes?: readonly string[] | undefined }
  | {
      kind: "tenant_member";
      tenantId: string;
      actor: string;
      via: "api_key" | "session" | "cognito";
      scopes?: readonly string[] | undefined;
    };

export type AdminAction =
  | "create_key"
  | "rotate_key"
  | "revoke_key"
  | "list_keys"
  | "create_session"
  | "set_policy"
  | "get_policy"
  | "create_admin_key"
  | "revoke_session"
  | "revoke_tenant_sessions"
  | "list_audit_events"
  | "manage_webhooks"
  | "suspend_key"
  | "resume_key";

/** Actions a tenant admin (Cognito admin group) may take on its own tenant. */
const TENANT_ADMIN_ACTIONS: ReadonlySet<AdminAction> = new Set([
  "create_key",
  "rotate_key",
  "revoke_key",
  "list_keys",
  "get_policy",
  "list_audit_events",
  "manage_webhooks",
  "suspend_key",
  "resume_key",
]);

/**
 * Actions on the keys of the `admin` tenant (admin keys) that a rotated admin key may not take: the
 * only key actions that reach that tenant (CreateKey, SuspendKey and ResumeKey refuse it outright).
 */
const ADMIN_KEY_ACTIONS: ReadonlySet<AdminAction> = new Set(["rotate_key", "revoke_key"]);

/** The refusal of a credential that is not valid (or, with the caller restriction on, not an admin's). */
export const NOT_VALID = "the bearer credential is not valid";

export function principalFrom(result: Introspection, adminGroup: string): Principal {
  if (!result.active) throw new DomainError("unauthenticated", NOT_VALID);
  if (result.tokenType === "api_key" && result.admin && result.tenantId === ADMIN_TENANT_ID) {
    // A scoped admin key (scopes given by a rotation) grants sessions only its own scopes (issue 22).
    const p: Principal = result.scopes
      ? { kind: "platform_admin", actor: result.keyId!, scopes: result.scopes }
      : { kind: "platform_admin", actor: result.keyId! };
    if (result.deprecated) p.deprecated = true;
    return p;
  }
  if (result.tokenType === "cognito") {
    // The sub becomes the audit actor and a key's created_by: escaped (ESC, CR LF, U+202E) and bounded.
    const actor = sanitizeIdentity(result.subject ?? "cognito");
    return result.groups?.includes(adminGroup)
      ? { kind: "tenant_admin", tenantId: result.tenantId, actor }
      : { kind: "tenant_member", tenantId: result.tenantId, actor, via: "cognito" };
  }
  return result.tokenType === "session"
    ? { kind: "tenant_member", tenantId: result.tenantId, actor: result.sessionId ?? "", via: "session" }
    : { kind: "tenant_member", tenantId: result.tenantId, actor: result.keyId ?? "", via: "api_key" };
}

/** The audit trail's view of a principal (who acted, with which kind of credential). */
export function auditActorOf(p: Principal): AuditActor {
  if (p.kind === "platform_admin") return { kind: "admin_key", id: p.actor, tenantId: ADMIN_TENANT_ID };
  if (p.kind === "tenant_admin") return { kind: "cognito_user", id: p.actor, tenantId: p.tenantId };
  const kind = p.via === "cognito" ? "cognito_user" : p.via;
  return { kind, id: p.actor, tenantId: p.tenantId };
}

/** Throws PERMISSION_DENIED unless `principal` may take `action` on `tenantId`. */
export function authorize(principal: Principal, action: AdminAction, tenantId: string | undefined): void {
  if (principal.kind === "platform_admin") {
    // A rotated admin key keeps working through its grace (clients switch over), but it may not
    // mint, rotate or revoke admin keys: whoever holds a replaced key could
    // otherwise mint a permanent one, or revoke its successor and lock the operator out.
    if (
      principal.deprecated &&
      (action === "create_admin_key" || (tenantId === ADMIN_TENANT_ID && ADMIN_KEY_ACTIONS.has(action)))
    )
      throw new DomainError(
        "permission_denied",
        "a rotated admin key may not manage admin keys during its grace: use the key that replaced it",
      );
    return;
  }
  if (
    principal.kind === "tenant_admin" &&
    TENANT_ADMIN_ACTIONS.has(action) &&
    tenantId !== undefined &&
    tenantId === principal.tenantId &&
    tenantId !== ADMIN_TENANT_ID
  ) {
    return;
  }
  throw new DomainError(
    "permission_denied",
    `this credential may not ${action.replace(/_/g, " ")}${tenantId ? ` for tenant ${tenantId}` : ""}`,
  );
}
