import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { AdminApi } from "../domain/admin-api.js";
import type { Introspection } from "../domain/introspection.js";
import type { Introspector } from "../domain/introspector.js";
import type { RefusalWindows } from "../domain/refusal-windows.js";
import { requireKeyId, requireLabel } from "../domain/key-rules.js";
import { ADMIN_TENANT_ID } from "../domain/tenant-id.js";
import { invalidArgument, PartialRevocationError } from "../domain/errors.js";
import * as pb from "../gen/warpflow/auth/v1/token_service_pb.js";
import { anyTenantOf, createAdminCall, tenantOf } from "./admin-call.js";
import { createAuditedCall } from "./audited-call.js";
import { toApiKey, toIntrospectResponse, toTenantPolicy } from "./proto-mapping.js";
import { createSessionAndAuditHandlers } from "./session-audit-handlers.js";
import { createWebhookHandlers } from "./webhook-handlers.js";
import type { WebhookService } from "../domain/webhook-service.js";
import { expiryOf, graceOf, policyDetail, policyUpdateOf, rotationDetail } from "./key-lifecycle-fields.js";
import { createKeyLifecycleHandlers } from "./key-lifecycle-handlers.js";
import {
  FAST_UNARY,
  type CallContext,
  type FastUnary,
  type UnaryHandlers,
} from "../transport/protocol/unary-handlers.js";
import type { CachedAnswer } from "../domain/introspector.js";
import { grantableScopes, requireScopes } from "../domain/key-scopes.js";
import { grantsDetail, introspectChecksOf, keyGrantsOf, successorGrantsOf } from "./grant-fields.js";

/**
 * TokenService, transport-neutral: each handler takes the decoded request and the caller's bearer
 * token, validates fields, authenticates, authorizes and calls the domain. The gRPC (grpc-js) and
 * Connect (connect-node) adapters both serve exactly these handlers. Every admin handler runs
 * inside its audit event (audited-call.ts): refused or allowed, each attempt is recorded.
 */
export function createTokenServiceHandlers(deps: {
  introspector: Introspector;
  admin: AdminApi;
  /** Sees every introspection result (metrics by reason). */
  onIntrospection?: (result: Introspection) => void;
  /** Restricts who may call Introspect (see introspect-callers.ts); undefined: anyone. */
  introspectCallerCheck?: ((ctx: CallContext) => void) | undefined;
  /** Unauthenticated refusals, counted per address and window (undefined: each one an event). */
  refusals?: RefusalWindows | undefined;
  /** Webhook endpoints (issue 24); undefined: those RPCs answer FAILED_PRECONDITION. */
  webhooks?: { service: WebhookService; allowHttp: boolean } | undefined;
}): UnaryHandlers<typeof pb.TokenService> {
  const { introspector, admin, onIntrospection, introspectCallerCheck } = deps;
  const call = createAdminCall(admin, createAuditedCall(admin.audit, deps.refusals), {
    concealMembers: introspectCallerCheck !== undefined,
  });

  const handlers: UnaryHandlers<typeof pb.TokenService> = {
    async introspect(req, ctx) {
      introspectCallerCheck?.(ctx);
      if (req.expectedTenantId !== "" && req.expectedTenantId.length > 63) {
        throw invalidArgument("expected_tenant_id", "must match ^[a-z0-9][a-z0-9-]{0,62}$");
      }
      const checks = introspectChecksOf(req);
      const result = await introspector.introspect(req.token, req.expectedTenantId || undefined, checks);
      onIntrospection?.(result);
      return toIntrospectResponse(result);
    },

    createKey: (req, ctx) =>
      call(
        {
          action: "key.create",
          permission: "create_key",
          tenant: tenantOf,
          fields: (r) => ({ label: requireLabel(r.label), grants: keyGrantsOf(r), expiry: expiryOf(r.expiry) }),
        },
        req,
        ctx,
        async (c) => {
          // A scoped admin key mints keys within its own scopes (none asked: its own), like sessions.
          const scopes = grantableScopes(c.principal.scopes, c.fields.grants.scopes);
          const grants = grantsDetail({ scopes, allowedCidrs: c.fields.grants.allowedCidrs ?? [] });
          c.audit.detail(grants);
          await c.audit.begin();
          const { token, key } = await admin.keys.create(c.tenantId, c.fields.label, c.principal.actor, {
            ...c.fields.grants,
            scopes,
            expiry: c.fields.expiry,
          });
          c.target({ keyId: key.id });
          if (key.expiresAt) c.audit.detail(`${grants} expires_at ${key.expiresAt.toISOString()}`);
          return create(pb.CreateKeyResponseSchema, { token, key: toApiKey(key) });
        },
      ),

    rotateKey: (req, ctx) =>
      call(
        {
          action: "key.rotate",
          permission: "rotate_key",
          tenant: anyTenantOf,
          fields: (r) => ({
            ...keyIdOf(r),
            grants: successorGrantsOf(r),
            graceMs: graceOf(r.grace),
            expiry: expiryOf(r.successorExpiry),
          }),
        },
        req,
        ctx,
        async (c) => {
          await c.audit.begin();
          const { keyId, graceMs, expiry } = c.fields;
          const retireOnFirstUse = req.retireOnFirstUse;
          const { token, key, previous } = await admin.keys.rotate(c.tenantId, keyId, c.principal.actor, {
            ...c.fields.grants,
            graceMs,
            expiry,
            retireOnFirstUse,
            creatorScopes: c.principal.scopes,
          });
          c.audit.detail(
            `successor ${key.id} ${grantsDetail({ scopes: key.scopes, allowedCidrs: key.allowedCidrs ?? [] })}${rotationDetail(previous.revokeAt, key.expiresAt)}`,
          );
          return create(pb.RotateKeyResponseSchema, { token, key: toApiKey(key), previousKey: toApiKey(previous) });
        },
      ),

    revokeKey: (req, ctx) => {
      // An admin key's sessions go with it (key-service.ts; not in a unit of work: audited-call.ts).
      let sessions = 0;
      return call(
        { action: "key.revoke", permission: "revoke_key", tenant: anyTenantOf, fields: keyIdOf },
        req,
        ctx,
        async (c) => {
          await c.audit.begin();
          const key = await admin.keys
            .revoke(c.tenantId, c.fields.keyId, c.principal.actor, {
              onSessionsRevoked: (n) => c.audit.detail(`revoked ${(sessions += n)} sessions it created`),
            })
            .catch((err: unknown) => {
              // UNAVAILABLE part-way: the event records how many were revoked (a retry revokes the rest).
              if (err instanceof PartialRevocationError)
                c.audit.detail(
                  `key revoked; revoked ${(sessions += err.revokedCount)} sessions it created before the store stopped; retry to revoke the rest`,
                );
              throw err;
            });
          return create(pb.RevokeKeyResponseSchema, { key: toApiKey(key) });
        },
      );
    },

    listKeys: (req, ctx) =>
      call({ action: "keys.list", permission: "list_keys", tenant: anyTenantOf }, req, ctx, async (c) =>
        create(pb.ListKeysResponseSchema, { keys: (await admin.keys.list(c.tenantId)).map(toApiKey) }),
      ),

    createSession: (req, ctx) =>
      call(
        {
          action: "session.create",
          permission: "create_session",
          tenant: tenantOf,
          fields: (r) => ({ scopes: requireScopes(r.scopes) }),
        },
        req,
        ctx,
        async (c) => {
          const scopes = grantableScopes(c.principal.scopes, c.fields.scopes);
          c.audit.detail(grantsDetail({ scopes }));
          await c.audit.begin();
          // An admin key's session is checked against that key's RevokeKey once stored (session-service.ts).
          const { token, session } = await admin.sessions.create(c.tenantId, c.principal.actor, scopes, {
            adminKey: c.principal.kind === "platform_admin",
          });
          c.audit.target({ sessionId: session.id });
          return create(pb.CreateSessionResponseSchema, {
            token,
            tenantId: c.tenantId,
            expiresAt: timestampFromDate(session.expiresAt),
            sessionId: session.id,
            scopes: session.scopes ?? [],
          });
        },
      ),

    setTenantPolicy: (req, ctx) =>
      call(
        { action: "policy.set", permission: "set_policy", tenant: tenantOf, fields: policyUpdateOf },
        req,
        ctx,
        async (c) => {
          c.audit.detail(policyDetail(req.hipaaEnabled, c.fields));
          await c.audit.begin();
          const policy = await admin.policies.set(c.tenantId, req.hipaaEnabled, c.principal.actor, c.fields);
          return create(pb.SetTenantPolicyResponseSchema, { policy: toTenantPolicy(policy) });
        },
      ),

    getTenantPolicy: (req, ctx) =>
      call({ action: "policy.get", permission: "get_policy", tenant: tenantOf }, req, ctx, async (c) =>
        create(pb.GetTenantPolicyResponseSchema, { policy: toTenantPolicy(await admin.policies.get(c.tenantId)) }),
      ),

    createAdminKey: (req, ctx) =>
      call(
        {
          action: "admin_key.create",
          permission: "create_admin_key",
          tenant: () => ADMIN_TENANT_ID,
          auditRequest: () => ({ tenantId: ADMIN_TENANT_ID }),
          fields: (r) => ({ label: requireLabel(r.label) }),
        },
        req,
        ctx,
        async (c) => {
          await c.audit.begin();
          // A scoped admin key's new admin key holds its scopes: never an unscoped one (issue 22).
          const scopes = grantableScopes(c.principal.scopes, undefined);
          const { token, key } = await admin.keys.create(ADMIN_TENANT_ID, c.fields.label, c.principal.actor, {
            scopes,
          });
          c.target({ keyId: key.id });
          return create(pb.CreateAdminKeyResponseSchema, { token, key: toApiKey(key) });
        },
      ),

    ...createSessionAndAuditHandlers({ admin, call }),
    ...createWebhookHandlers({ call, webhooks: deps.webhooks?.service, allowHttp: deps.webhooks?.allowHttp ?? false }),
    ...createKeyLifecycleHandlers({ admin, call }),
  };
  const fast = introspectFastPath(introspector, onIntrospection, introspectCallerCheck);
  return fast ? Object.assign(handlers, { [FAST_UNARY]: { introspect: fast as FastUnary } }) : handlers;
}

/**
 * Introspect answered synchronously while the token (and its tenant's policy) is cached: the same
 * result and hooks as the handler above, without its promise or context. Not offered when
 * Introspect callers are restricted (the check needs the call's context): every call then takes
 * the handler.
 */
function introspectFastPath(
  introspector: Introspector,
  onIntrospection: ((result: Introspection) => void) | undefined,
  callerCheck: ((ctx: CallContext) => void) | undefined,
): FastUnary<CachedAnswer> | undefined {
  const cached = introspector.introspectCached?.bind(introspector);
  if (callerCheck || !cached) return undefined;
  return {
    answer(req) {
      const r = req as pb.IntrospectRequest;
      const { token, expectedTenantId } = r;
      if (expectedTenantId.length > 63) return undefined; // the handler answers INVALID_ARGUMENT
      let checks;
      try {
        checks = introspectChecksOf(r);
      } catch {
        return undefined; // the handler answers INVALID_ARGUMENT
      }
      // A refusal by the checks is a constant answer (its own bytes), never the cached entry's.
      const answer = cached(token, expectedTenantId || undefined, checks);
      if (answer !== undefined) onIntrospection?.(answer.result);
      return answer;
    },
    message: (answer) => toIntrospectResponse(answer.result),
  };
}

const keyIdOf = (req: { keyId: string }) => ({ keyId: requireKeyId(req.keyId) });
