import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { AdminApi } from "../domain/admin-api.js";
import type { Introspection } from "../domain/introspection.js";
import type { Introspector } from "../domain/introspector.js";
import type { RefusalWindows } from "../domain/refusal-windows.js";
import { requireKeyId, requireLabel } from "../domain/key-rules.js";
import { ADMIN_TENANT_ID, requireTenantId } from "../domain/tenant-id.js";
import { invalidArgument } from "../domain/errors.js";
import * as pb from "../gen/warpflow/auth/v1/token_service_pb.js";
import { createAuditedCall, type AuditScope } from "./audited-call.js";
import { toApiKey, toIntrospectResponse, toTenantPolicy } from "./proto-mapping.js";
import { createSessionAndAuditHandlers } from "./session-audit-handlers.js";
import type { CallContext, UnaryHandlers } from "../transport/protocol/unary-handlers.js";

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
}): UnaryHandlers<typeof pb.TokenService> {
  const { introspector, admin, onIntrospection, introspectCallerCheck } = deps;
  const audited = createAuditedCall(admin.audit, deps.refusals);

  const principal = async (ctx: CallContext, a: AuditScope) => {
    const p = await admin.authenticate(ctx.bearer);
    ctx.actor = p.actor;
    a.principal(p);
    return p;
  };
  const on = (ctx: CallContext, a: AuditScope, tenantId: string, keyId?: string) => {
    ctx.tenantId = tenantId;
    if (keyId !== undefined) ctx.keyId = keyId;
    a.target({ tenantId, keyId });
  };

  return {
    async introspect(req, ctx) {
      introspectCallerCheck?.(ctx);
      if (req.expectedTenantId !== "" && req.expectedTenantId.length > 63) {
        throw invalidArgument("expected_tenant_id", "must match ^[a-z0-9][a-z0-9-]{0,62}$");
      }
      const result = await introspector.introspect(req.token, req.expectedTenantId || undefined);
      onIntrospection?.(result);
      return toIntrospectResponse(result);
    },

    createKey: (req, ctx) =>
      audited("key.create", ctx, req, async (a) => {
        const p = await principal(ctx, a);
        const tenantId = requireTenantId(req.tenantId);
        const label = requireLabel(req.label);
        admin.authorize(p, "create_key", tenantId);
        on(ctx, a, tenantId);
        await a.begin();
        const { token, key } = await admin.keys.create(tenantId, label, p.actor);
        on(ctx, a, tenantId, key.id);
        return create(pb.CreateKeyResponseSchema, { token, key: toApiKey(key) });
      }),

    rotateKey: (req, ctx) =>
      audited("key.rotate", ctx, req, async (a) => {
        const p = await principal(ctx, a);
        const tenantId = requireTenantId(req.tenantId, "tenant_id", true);
        const keyId = requireKeyId(req.keyId);
        admin.authorize(p, "rotate_key", tenantId);
        on(ctx, a, tenantId, keyId);
        await a.begin();
        const { token, key, previous } = await admin.keys.rotate(tenantId, keyId, p.actor);
        a.detail(`successor ${key.id}`);
        return create(pb.RotateKeyResponseSchema, { token, key: toApiKey(key), previousKey: toApiKey(previous) });
      }),

    revokeKey: (req, ctx) =>
      audited("key.revoke", ctx, req, async (a) => {
        const p = await principal(ctx, a);
        const tenantId = requireTenantId(req.tenantId, "tenant_id", true);
        const keyId = requireKeyId(req.keyId);
        admin.authorize(p, "revoke_key", tenantId);
        on(ctx, a, tenantId, keyId);
        await a.begin();
        return create(pb.RevokeKeyResponseSchema, { key: toApiKey(await admin.keys.revoke(tenantId, keyId, p.actor)) });
      }),

    listKeys: (req, ctx) =>
      audited("keys.list", ctx, req, async (a) => {
        const p = await principal(ctx, a);
        const tenantId = requireTenantId(req.tenantId, "tenant_id", true);
        admin.authorize(p, "list_keys", tenantId);
        on(ctx, a, tenantId);
        return create(pb.ListKeysResponseSchema, { keys: (await admin.keys.list(tenantId)).map(toApiKey) });
      }),

    createSession: (req, ctx) =>
      audited("session.create", ctx, req, async (a) => {
        const p = await principal(ctx, a);
        const tenantId = requireTenantId(req.tenantId);
        admin.authorize(p, "create_session", tenantId);
        on(ctx, a, tenantId);
        await a.begin();
        const { token, session } = await admin.sessions.create(tenantId, p.actor);
        a.target({ sessionId: session.id });
        return create(pb.CreateSessionResponseSchema, {
          token,
          tenantId,
          expiresAt: timestampFromDate(session.expiresAt),
          sessionId: session.id,
        });
      }),

    setTenantPolicy: (req, ctx) =>
      audited("policy.set", ctx, req, async (a) => {
        const p = await principal(ctx, a);
        const tenantId = requireTenantId(req.tenantId);
        admin.authorize(p, "set_policy", tenantId);
        on(ctx, a, tenantId);
        a.detail(`hipaa_enabled=${req.hipaaEnabled}`);
        await a.begin();
        const policy = await admin.policies.set(tenantId, req.hipaaEnabled, p.actor);
        return create(pb.SetTenantPolicyResponseSchema, { policy: toTenantPolicy(policy) });
      }),

    getTenantPolicy: (req, ctx) =>
      audited("policy.get", ctx, req, async (a) => {
        const p = await principal(ctx, a);
        const tenantId = requireTenantId(req.tenantId);
        admin.authorize(p, "get_policy", tenantId);
        on(ctx, a, tenantId);
        return create(pb.GetTenantPolicyResponseSchema, { policy: toTenantPolicy(await admin.policies.get(tenantId)) });
      }),

    createAdminKey: (req, ctx) =>
      audited("admin_key.create", ctx, { tenantId: ADMIN_TENANT_ID }, async (a) => {
        const p = await principal(ctx, a);
        const label = requireLabel(req.label);
        admin.authorize(p, "create_admin_key", ADMIN_TENANT_ID);
        on(ctx, a, ADMIN_TENANT_ID);
        await a.begin();
        const { token, key } = await admin.keys.create(ADMIN_TENANT_ID, label, p.actor);
        on(ctx, a, ADMIN_TENANT_ID, key.id);
        return create(pb.CreateAdminKeyResponseSchema, { token, key: toApiKey(key) });
      }),

    ...createSessionAndAuditHandlers({ admin, audited, principal, on }),
  };
}
