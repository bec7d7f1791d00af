// `warpflow keys create|rotate|revoke|list|suspend|resume`: a tenant's API keys.
import type { Command } from "commander";
import * as pb from "../../gen/warpflow/auth/v1/token_service_pb.js";
import { ADMIN_TENANT_ID } from "../../domain/tenant-id.js";
import { formatSecret, keyTable } from "../format.js";
import type { CommandKit } from "../program.js";
import { printKeys, revokeKeyConfirmed } from "./key-output.js";
import { allowIpOption, scopeOption, type GrantOpts } from "../grant-options.js";
import { durationOption, expiryOption } from "../key-lifecycle-options.js";
import { registerKeySuspension } from "./key-suspension.js";

interface TenantOpts {
  tenant: string;
}

export function registerKeys(program: Command, { group, leaf, run }: CommandKit): void {
  const keys = group(program, "keys", "a tenant's API keys: create, rotate, revoke, list, suspend, resume");

  const create = leaf(keys, "create", {
    summary: "create an API key (the key is shown once)",
    examples: [
      'warpflow keys create --tenant acme --label "CRM Sync"',
      'warpflow keys create --tenant acme --label "CRM Sync" --scope contacts:read --scope deals:read --allow-ip 10.0.0.0/8',
      'warpflow keys create --tenant acme --label "CI" --expires 90d',
      'warpflow keys create --tenant acme --label "Audit 2026" --expires 2027-01-01T00:00:00Z',
    ],
    server: true,
  })
    .requiredOption("--tenant <id>", "the tenant")
    .requiredOption("--label <text>", "what the key is for (1-100 printable characters)")
    .option("--expires <when>", "a lifetime (90d, 12h) or an ISO time; default: the tenant's max-key-lifetime, if any");
  scopeOption(create, "a scope the key grants");
  allowIpOption(create);
  run<TenantOpts & GrantOpts & { label: string; expires?: string }>(create, async (ctx, o) => {
    const e = o.expires === undefined ? undefined : expiryOption("keys create", o.expires);
    const expiry =
      e === undefined
        ? undefined
        : e.kind === "in"
          ? { case: "expiresIn" as const, value: e.value }
          : { case: "expiresAt" as const, value: e.value };
    const r = await ctx
      .api()
      .createKey(
        { tenantId: o.tenant, label: o.label, scopes: o.scope ?? [], allowedCidrs: o.allowIp ?? [], expiry },
        ctx.auth(),
      );
    ctx.out(
      pb.CreateKeyResponseSchema,
      r,
      () => `${formatSecret("API key", r.token)}\n\n${keyTable([r.key!], undefined, ctx)}`,
    );
  });

  const rotate = leaf(keys, "rotate", {
    summary: "rotate: a new key now, the old one valid 72 more hours (or --grace)",
    examples: [
      "warpflow keys rotate --tenant acme --key key_3hYt0aR8ZkQ2mN7pLx1c",
      "warpflow keys rotate --tenant acme --key key_3hYt0aR8ZkQ2mN7pLx1c --grace 0h   # old key revoked now",
      "warpflow keys rotate --tenant acme --key key_3hYt0aR8ZkQ2mN7pLx1c --scope deals:read   # the successor's scopes",
    ],
    server: true,
  })
    .requiredOption("--tenant <id>", "the tenant")
    .requiredOption("--key <id>", "the key to replace (key_...)")
    .option("--all-scopes", "the successor has no scopes (full tenant access); default: it inherits the old key's")
    .option("--any-ip", "the successor has no IP allowlist; default: it inherits the old key's")
    .option("--grace <duration>", "how long the old key keeps working: 0h to 72h (default 72h)")
    .option(
      "--retire-on-first-use",
      "end the old key's grace the first time the new key is used (ignored with --grace 0h)",
    )
    .option("--expires <when>", "the new key's expiry (default: the old key's lifetime, within the tenant's maximum)");
  scopeOption(rotate, "the successor's scope, instead of the old key's");
  allowIpOption(rotate);
  type RotateOpts = TenantOpts &
    GrantOpts & {
      key: string;
      allScopes?: boolean;
      anyIp?: boolean;
      grace?: string;
      expires?: string;
      retireOnFirstUse?: boolean;
    };
  run<RotateOpts>(rotate, async (ctx, o) => {
    // Absent list: inherited. A present one (empty with --all-scopes / --any-ip) replaces it.
    const scopes = o.allScopes ? [] : o.scope;
    const cidrs = o.anyIp ? [] : o.allowIp;
    const grace = o.grace === undefined ? undefined : durationOption("keys rotate", "--grace", o.grace);
    const e = o.expires === undefined ? undefined : expiryOption("keys rotate", o.expires);
    const successorExpiry =
      e === undefined
        ? undefined
        : e.kind === "in"
          ? { case: "successorExpiresIn" as const, value: e.value }
          : { case: "successorExpiresAt" as const, value: e.value };
    const r = await ctx.api().rotateKey(
      {
        tenantId: o.tenant,
        keyId: o.key,
        ...(scopes && { scopes: { scopes } }),
        ...(cidrs && { allowedCidrs: { cidrs } }),
        grace,
        successorExpiry,
        retireOnFirstUse: o.retireOnFirstUse === true,
      },
      ctx.auth(),
    );
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

  registerKeySuspension(keys, { group, leaf, run });
}
