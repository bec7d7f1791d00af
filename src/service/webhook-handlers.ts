// CreateWebhookEndpoint, ListWebhookEndpoints, RotateWebhookSecret, DeleteWebhookEndpoint (issue 24).
// Platform admin keys on any tenant (`admin`: platform-wide endpoints); a Cognito tenant admin on its
// own tenant. Each call is audited (webhook.create, webhooks.list, webhook.secret_rotate,
// webhook.delete) with the endpoint id in the detail; a URL is validated but never echoed or audited.
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { DomainError } from "../domain/errors.js";
import type { WebhookEndpointView, WebhookService } from "../domain/webhook-service.js";
import {
  requireEndpointId,
  requireEventTypes,
  requireWebhookUrl,
  type WebhookEndpointRecord,
} from "../domain/webhook-records.js";
import * as pb from "../gen/warpflow/auth/v1/token_service_pb.js";
import type { UnaryHandlers } from "../transport/protocol/unary-handlers.js";
import { anyTenantOf, type AdminCall } from "./admin-call.js";

type Handlers = UnaryHandlers<typeof pb.TokenService>;
type WebhookRpcs = "createWebhookEndpoint" | "listWebhookEndpoints" | "rotateWebhookSecret" | "deleteWebhookEndpoint";

const ts = (d: Date | undefined) => (d ? timestampFromDate(d) : undefined);

export function toWebhookEndpoint(e: WebhookEndpointRecord, backlog = 0): pb.WebhookEndpoint {
  return create(pb.WebhookEndpointSchema, {
    id: e.id,
    tenantId: e.tenantId,
    url: e.url,
    events: e.events,
    createdAt: ts(e.createdAt),
    createdBy: e.createdBy,
    disabledAt: ts(e.disabledAt),
    lastFailureAt: ts(e.lastFailureAt),
    lastFailure: e.lastFailure ?? "",
    backlog: BigInt(backlog),
    previousSecretExpiresAt: ts(e.secrets[1]?.expiresAt),
  });
}

const view = (v: WebhookEndpointView) => toWebhookEndpoint(v.endpoint, v.backlog);
const endpointIdOf = (r: { endpointId: string }) => ({ endpointId: requireEndpointId(r.endpointId) });

export function createWebhookHandlers(deps: {
  call: AdminCall;
  /** Undefined: every webhook RPC answers FAILED_PRECONDITION. */
  webhooks: WebhookService | undefined;
  allowHttp: boolean;
}): Pick<Handlers, WebhookRpcs> {
  const { call, allowHttp } = deps;
  const service = () => {
    if (!deps.webhooks) throw new DomainError("failed_precondition", "webhooks are not enabled on this server");
    return deps.webhooks;
  };
  return {
    createWebhookEndpoint: (req, ctx) =>
      call(
        {
          action: "webhook.create",
          permission: "manage_webhooks",
          tenant: anyTenantOf,
          fields: (r) => ({ url: requireWebhookUrl(r.url, allowHttp), events: requireEventTypes(r.events) }),
        },
        req,
        ctx,
        async (c) => {
          await c.audit.begin();
          const { endpoint, secret } = await service().create({
            tenantId: c.tenantId,
            url: c.fields.url,
            events: c.fields.events,
            createdBy: c.principal.actor,
          });
          c.audit.detail(`endpoint ${endpoint.id}`);
          return create(pb.CreateWebhookEndpointResponseSchema, { endpoint: toWebhookEndpoint(endpoint), secret });
        },
      ),

    listWebhookEndpoints: (req, ctx) =>
      call({ action: "webhooks.list", permission: "manage_webhooks", tenant: anyTenantOf }, req, ctx, async (c) =>
        create(pb.ListWebhookEndpointsResponseSchema, {
          endpoints: (await service().list(c.tenantId)).map(view),
        }),
      ),

    rotateWebhookSecret: (req, ctx) =>
      call(
        { action: "webhook.secret_rotate", permission: "manage_webhooks", tenant: anyTenantOf, fields: endpointIdOf },
        req,
        ctx,
        async (c) => {
          c.audit.detail(`endpoint ${c.fields.endpointId}`);
          await c.audit.begin();
          const { endpoint, secret } = await service().rotateSecret(c.tenantId, c.fields.endpointId);
          return create(pb.RotateWebhookSecretResponseSchema, { endpoint: toWebhookEndpoint(endpoint), secret });
        },
      ),

    deleteWebhookEndpoint: (req, ctx) =>
      call(
        { action: "webhook.delete", permission: "manage_webhooks", tenant: anyTenantOf, fields: endpointIdOf },
        req,
        ctx,
        async (c) => {
          c.audit.detail(`endpoint ${c.fields.endpointId}`);
          await c.audit.begin();
          await service().delete(c.tenantId, c.fields.endpointId);
          return create(pb.DeleteWebhookEndpointResponseSchema, {});
        },
      ),
  };
}
