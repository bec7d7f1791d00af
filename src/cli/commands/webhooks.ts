// `warpflow webhooks create|list|rotate-secret|delete`: a tenant's webhook endpoints (tenant
// `admin`: platform-wide ones). The signing secret is shown once, by create and rotate-secret.
import type { Command } from "commander";
import * as pb from "../../gen/warpflow/auth/v1/token_service_pb.js";
import { formatSecret, safe } from "../format.js";
import type { CommandKit } from "../program.js";
import { relative, renderTable } from "../table.js";
import type { Ctx } from "../context.js";

interface TenantOpts {
  tenant: string;
}

function endpointTable(endpoints: pb.WebhookEndpoint[], ctx: Ctx): string {
  return renderTable(
    ["ENDPOINT", "URL", "EVENTS", "STATE", "BACKLOG", "LAST FAILURE"],
    endpoints.map((e) => [
      safe(e.id),
      safe(e.url),
      e.events.length ? safe(e.events.join(",")) : "all",
      e.disabledAt ? ctx.paint.red(`disabled ${relative(e.disabledAt, ctx.now)}`) : "enabled",
      String(e.backlog),
      e.lastFailureAt ? `${safe(e.lastFailure)} (${relative(e.lastFailureAt, ctx.now)})` : "-",
    ]),
  );
}

export function registerWebhooks(program: Command, { group, leaf, run }: CommandKit): void {
  const hooks = group(program, "webhooks", "a tenant's webhook endpoints: create, list, rotate-secret, delete");

  const create = leaf(hooks, "create", {
    summary: "register an endpoint for lifecycle events (the signing secret is shown once)",
    examples: [
      "warpflow webhooks create --tenant acme --url https://hooks.acme.example/warpflow",
      "warpflow webhooks create --tenant acme --url https://hooks.acme.example/warpflow --events key.revoked,key.exposed",
      "warpflow webhooks create --tenant admin --url https://ops.example/warpflow   # every tenant's events",
    ],
    server: true,
  })
    .requiredOption("--tenant <id>", "the tenant (admin: platform-wide)")
    .requiredOption("--url <url>", "where to POST events (https)")
    .option("--events <types>", "comma-separated event types (default: all; see docs/webhooks.md)");
  run<TenantOpts & { url: string; events?: string }>(create, async (ctx, o) => {
    const events = (o.events ?? "")
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s !== "");
    const r = await ctx.api().createWebhookEndpoint({ tenantId: o.tenant, url: o.url, events }, ctx.auth());
    ctx.out(
      pb.CreateWebhookEndpointResponseSchema,
      r,
      () => `${formatSecret("signing secret", r.secret)}\n\n${endpointTable([r.endpoint!], ctx)}`,
    );
  });

  const list = leaf(hooks, "list", {
    summary: "list a tenant's endpoints: state, backlog, last failure (never a secret)",
    examples: ["warpflow webhooks list --tenant acme", "warpflow webhooks list --tenant acme --output json"],
    server: true,
  }).requiredOption("--tenant <id>", "the tenant (admin: platform-wide)");
  run<TenantOpts>(list, async (ctx, o) => {
    const r = await ctx.api().listWebhookEndpoints({ tenantId: o.tenant }, ctx.auth());
    ctx.out(pb.ListWebhookEndpointsResponseSchema, r, () =>
      r.endpoints.length ? endpointTable(r.endpoints, ctx) : "no webhook endpoints",
    );
  });

  const rotate = leaf(hooks, "rotate-secret", {
    summary: "a new signing secret now; the old one keeps signing beside it for WEBHOOK_SECRET_OVERLAP_MS",
    examples: ["warpflow webhooks rotate-secret --tenant acme --endpoint wh_3hYt0aR8ZkQ2mN7pLx1cQw"],
    server: true,
  })
    .requiredOption("--tenant <id>", "the tenant")
    .requiredOption("--endpoint <id>", "the endpoint (wh_...)");
  run<TenantOpts & { endpoint: string }>(rotate, async (ctx, o) => {
    const r = await ctx.api().rotateWebhookSecret({ tenantId: o.tenant, endpointId: o.endpoint }, ctx.auth());
    ctx.out(
      pb.RotateWebhookSecretResponseSchema,
      r,
      () => `${formatSecret("new signing secret", r.secret)}\n\n${endpointTable([r.endpoint!], ctx)}`,
    );
  });

  const del = leaf(hooks, "delete", {
    summary: "delete an endpoint and its undelivered events (asks first)",
    examples: ["warpflow webhooks delete --tenant acme --endpoint wh_3hYt0aR8ZkQ2mN7pLx1cQw --yes"],
    server: true,
    destructive: true,
  })
    .requiredOption("--tenant <id>", "the tenant")
    .requiredOption("--endpoint <id>", "the endpoint (wh_...)");
  run<TenantOpts & { endpoint: string }>(del, async (ctx, o) => {
    await ctx.confirm(
      `delete webhook endpoint ${safe(o.endpoint)} of ${safe(o.tenant)} and its undelivered events?`,
      "webhooks delete",
    );
    const r = await ctx.api().deleteWebhookEndpoint({ tenantId: o.tenant, endpointId: o.endpoint }, ctx.auth());
    ctx.out(pb.DeleteWebhookEndpointResponseSchema, r, () => `deleted webhook endpoint ${safe(o.endpoint)}`);
  });
}
