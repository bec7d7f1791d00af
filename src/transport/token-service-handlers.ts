import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { AdminApi } from "../domain/admin-api.js";
import type { Introspection } from "../domain/introspection.js";
import type { Introspector } from "../domain/introspector.js";
import { requireKeyId, requireLabel } from "../domain/key-rules.js";
import { ADMIN_TENANT_ID, requireTenantId } from "../domain/tenant-id.js";
import { invalidArgument } from "../domain/errors.js";
import * as pb from "../gen/warpflow/auth/v1/token_service_pb.js";
import { toApiKey, toIntrospectResponse, toTenantPolicy } from "./proto-mapping.js";
import type { CallContext, UnaryHandlers } from "./unary-handlers.js";

/**
 * TokenService, transport-neutral: each handler takes the decoded request and the caller's bearer
 * token, validates fields, authenticates, authorizes and calls the domain. The gRPC (grpc-js) and
 * Connect (connect-node) adapters both serve exactly these handlers.
 */
export function createTokenServiceHandlers(deps: {
  introspector: Introspector;
  admin: AdminApi;
  /** Sees every introspection result (metrics by reason). */
  onIntrospection?: (result: Introspection) => void;
  /** Restricts who may call Introspect (see introspect-callers.ts); undefined: anyone. */
  introspectCallerCheck?: ((ctx: CallContext) => void) | undefined;
}): UnaryHandlers<typeof pb.TokenService> {
  const { introspector, admin, onIntrospection, introspectCallerCheck } = deps;

  const principal = async (ctx: CallContext) => {
    const p = await admin.authenticate(ctx.bearer);
    ctx.actor = p.actor;
    return p;
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

    async createKey(req, ctx) {
      const p = await principal(ctx);
      const tenantId = requireTenantId(req.tenantId);
      const label = requireLabel(req.label);
      admin.authorize(p, "create_key", tenantId);
      ctx.tenantId = tenantId;
      const { token, key } = await admin.keys.create(tenantId, label, p.actor);
      ctx.keyId = key.id;
      return create(pb.CreateKeyResponseSchema, { token, key: toApiKey(key) });
    },

    async rotateKey(req, ctx) {
      const p = await principal(ctx);
      const tenantId = requireTenantId(req.tenantId, "tenant_id", true);
      const keyId = requireKeyId(req.keyId);
      admin.authorize(p, "rotate_key", tenantId);
      ctx.tenantId = tenantId;
      ctx.keyId = keyId;
      const { token, key, previous } = await admin.keys.rotate(tenantId, keyId, p.actor);
      return create(pb.RotateKeyResponseSchema, { token, key: toApiKey(key), previousKey: toApiKey(previous) });
    },

    async revokeKey(req, ctx) {
      const p = await principal(ctx);
      const tenantId = requireTenantId(req.tenantId, "tenant_id", true);
      const keyId = requireKeyId(req.keyId);
      admin.authorize(p, "revoke_key", tenantId);
      ctx.tenantId = tenantId;
      ctx.keyId = keyId;
      return create(pb.RevokeKeyResponseSchema, { key: toApiKey(await admin.keys.revoke(tenantId, keyId, p.actor)) });
    },

    async listKeys(req, ctx) {
      const p = await principal(ctx);
      const tenantId = requireTenantId(req.tenantId, "tenant_id", true);
      admin.authorize(p, "list_keys", tenantId);
      ctx.tenantId = tenantId;
      return create(pb.ListKeysResponseSchema, { keys: (await admin.keys.list(tenantId)).map(toApiKey) });
    },

    async createSession(req, ctx) {
      const p = await principal(ctx);
      const tenantId = requireTenantId(req.tenantId);
      admin.authorize(p, "create_session", tenantId);
      ctx.tenantId = tenantId;
      const { token, session } = await admin.sessions.create(tenantId, p.actor);
      return create(pb.CreateSessionResponseSchema, {
        token,
        tenantId,
        expiresAt: timestampFromDate(session.expiresAt),
        sessionId: session.id,
      });
    },

    async setTenantPolicy(req, ctx) {
      const p = await principal(ctx);
      const tenantId = requireTenantId(req.tenantId);
      admin.authorize(p, "set_policy", tenantId);
      ctx.tenantId = tenantId;
      const policy = await admin.policies.set(tenantId, req.hipaaEnabled, p.actor);
      return create(pb.SetTenantPolicyResponseSchema, { policy: toTenantPolicy(policy) });
    },

    async getTenantPolicy(req, ctx) {
      const p = await principal(ctx);
      const tenantId = requireTenantId(req.tenantId);
      admin.authorize(p, "get_policy", tenantId);
      ctx.tenantId = tenantId;
      return create(pb.GetTenantPolicyResponseSchema, { policy: toTenantPolicy(await admin.policies.get(tenantId)) });
    },

    async createAdminKey(req, ctx) {
      const p = await principal(ctx);
      const label = requireLabel(req.label);
      admin.authorize(p, "create_admin_key", ADMIN_TENANT_ID);
      ctx.tenantId = ADMIN_TENANT_ID;
      const { token, key } = await admin.keys.create(ADMIN_TENANT_ID, label, p.actor);
      ctx.keyId = key.id;
      return create(pb.CreateAdminKeyResponseSchema, { token, key: toApiKey(key) });
    },
  };
}
