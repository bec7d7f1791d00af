// `warpflow keys create|rotate|revoke|list`: a tenant's API keys.
import type { Command } from "commander";
import * as pb from "../../gen/warpflow/auth/v1/token_service_pb.js";
import { ADMIN_TENANT_ID } from "../../domain/tenant-id.js";
import { formatSecret, keyTable } from "../format.js";
import type { CommandKit } from "../program.js";
import { printKeys, revokeKeyConfirmed } from "./key-output.js";

interface TenantOpts {
  tenant: string;
}

export function registerKeys(program: Command, { group, leaf, run }: CommandKit): void {
  const keys = group(program, "keys", "a tenant's API keys: create, rotate, revoke, list");

  const create = leaf(keys, "create", {
    summary: "create an API key (the key is shown once)",
    examples: ['warpflow keys create --tenant acme --label "CRM Sync"'],
    server: true,
  })
    .requiredOption("--tenant <id>", "the tenant")
    .requiredOption("--label <text>", "what the key is for (1-100 printable characters)");
  run<TenantOpts & { label: string }>(create, async (ctx, o) => {
    const r = await ctx.api().createKey({ tenantId: o.tenant, label: o.label }, ctx.auth());
    ctx.out(
      pb.CreateKeyResponseSchema,
      r,
      () => `${formatSecret("API key", r.token)}\n\n${keyTable([r.key!], undefined, ctx)}`,
    );
  });

  const rotate = leaf(keys, "rotate", {
    summary: "rotate: a new key now, the old one valid 72 more hours",
    examples: ["warpflow keys rotate --tenant acme --key key_3hYt0aR8ZkQ2mN7pLx1c"],
    server: true,
  })
    .requiredOption("--tenant <id>", "the tenant")
    .requiredOption("--key <id>", "the key to replace (key_...)");
  run<TenantOpts & { key: string }>(rotate, async (ctx, o) => {
    const r = await ctx.api().rotateKey({ tenantId: o.tenant, keyId: o.key }, ctx.auth());
    ctx.out(
      pb.RotateKeyResponseSchema,
      r,
      () => `${formatSecret("new API key", r.token)}\n\n${keyTable([r.key!, r.previousKey!], undefined, ctx)}`,
    );
  });

  const revoke = leaf(keys, "revoke", {
    summary: "revoke a key now, permanently (asks first)",
    examples: [
      "warpflow keys revoke --tenant acme --key key_3hYt0aR8ZkQ2mN7pLx1c",
      "warpflow keys revoke --tenant acme --key key_3hYt0aR8ZkQ2mN7pLx1c --yes   # no question (scripts)",
    ],
    server: true,
    destructive: true,
  })
    .requiredOption("--tenant <id>", "the tenant")
    .requiredOption("--key <id>", "the key to revoke (key_...)")
    .addHelpText("after", "\nRevoking a revoked key changes nothing: it says so (and since when) and exits 0.");
  run<TenantOpts & { key: string }>(revoke, (ctx, o) =>
    revokeKeyConfirmed(ctx, {
      tenant: o.tenant,
      keyId: o.key,
      command: "keys revoke",
      list: async () => (await ctx.api().listKeys({ tenantId: o.tenant }, ctx.auth())).keys,
      revoke: async () => (await ctx.api().revokeKey({ tenantId: o.tenant, keyId: o.key }, ctx.auth())).key!,
    }),
  );

  const list = leaf(keys, "list", {
    summary: "list a tenant's keys with the state Introspect sees (tenant policy included)",
    examples: ["warpflow keys list --tenant acme", "warpflow keys list --tenant acme --output json"],
    server: true,
  }).requiredOption("--tenant <id>", "the tenant");
  run<TenantOpts>(list, async (ctx, o) => {
    const [r, policy] = await Promise.all([
      ctx.api().listKeys({ tenantId: o.tenant }, ctx.auth()),
      o.tenant === ADMIN_TENANT_ID
        ? undefined
        : ctx
            .api()
            .getTenantPolicy({ tenantId: o.tenant }, ctx.auth())
            .then((p) => p.policy),
    ]);
    printKeys(ctx, r.keys, policy, "no keys");
  });
}
