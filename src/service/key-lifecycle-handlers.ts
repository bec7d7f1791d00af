// Issue 22: SuspendKey and ResumeKey, declared like RevokeKey (admin-call.ts): the platform admin,
// or a tenant admin for its own tenant (not a suspension the platform admin made: key-suspension.ts);
// audited as key.suspend / key.resume. Not on the admin
// tenant: a suspended admin key still counts as a usable one for the admin-key bootstrap, so
// suspending the last one would lock the platform out for good (revoke an admin key instead).
import { create } from "@bufbuild/protobuf";
import type { AdminApi } from "../domain/admin-api.js";
import { requireKeyId } from "../domain/key-rules.js";
import * as pb from "../gen/warpflow/auth/v1/token_service_pb.js";
import type { UnaryHandlers } from "../transport/protocol/unary-handlers.js";
import { tenantOf, type AdminCall } from "./admin-call.js";
import { toApiKey } from "./proto-mapping.js";

type Handlers = UnaryHandlers<typeof pb.TokenService>;

const keyIdOf = (req: { keyId: string }) => ({ keyId: requireKeyId(req.keyId) });

export function createKeyLifecycleHandlers(deps: {
  admin: AdminApi;
  call: AdminCall;
}): Pick<Handlers, "suspendKey" | "resumeKey"> {
  const { admin, call } = deps;
  return {
    suspendKey: (req, ctx) =>
      call(
        { action: "key.suspend", permission: "suspend_key", tenant: tenantOf, fields: keyIdOf },
        req,
        ctx,
        async (c) => {
          await c.audit.begin();
          const byPlatform = c.principal.kind === "platform_admin";
          const key = await admin.keys.suspend(c.tenantId, c.fields.keyId, c.principal.actor, byPlatform);
          return create(pb.SuspendKeyResponseSchema, { key: toApiKey(key) });
        },
      ),

    resumeKey: (req, ctx) =>
      call(
        { action: "key.resume", permission: "resume_key", tenant: tenantOf, fields: keyIdOf },
        req,
        ctx,
        async (c) => {
          await c.audit.begin();
          // The platform admin's suspension: a tenant admin's resume is PERMISSION_DENIED.
          const byPlatform = c.principal.kind === "platform_admin";
          const key = await admin.keys.resume(c.tenantId, c.fields.keyId, c.principal.actor, byPlatform);
          return create(pb.ResumeKeyResponseSchema, { key: toApiKey(key) });
        },
      ),
  };
}
