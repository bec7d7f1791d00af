// `warpflow admin-key create|list|revoke|generate`: platform admin keys, over the API or (--direct,
// break-glass) in MongoDB; `generate` mints one offline for ADMIN_KEY_FILE.
import type { Command } from "commander";
import * as pb from "../../gen/warpflow/auth/v1/token_service_pb.js";
import { generateToken } from "../../domain/token-format.js";
import { ADMIN_TENANT_ID } from "../../domain/tenant-id.js";
import { toApiKey } from "../../service/proto-mapping.js";
import { createAdminKeyDirect, listAdminKeysDirect, revokeAdminKeyDirect } from "../direct-admin-key.js";
import { formatSecret, keyTable, safe } from "../format.js";
import type { CommandKit } from "../program.js";
import { printKeys, revokeKeyConfirmed } from "./key-output.js";

const DIRECT = "--direct";
const DIRECT_HELP = "break-glass: directly in MongoDB (MONGODB_URI), no admin key needed";

export function registerAdminKey(program: Command, { group, leaf, run }: CommandKit): void {
  const admin = group(program, "admin-key", "platform admin keys: create, list, revoke, generate");

  const createCmd = leaf(admin, "create", {
    summary: "create a platform admin key (shown once)",
    examples: [
      'warpflow admin-key create --label "ops on-call"',
      'MONGODB_URI=... warpflow admin-key create --label "break glass" --direct',
    ],
    server: true,
  })
    .requiredOption("--label <text>", "what the key is for")
    .option(DIRECT, DIRECT_HELP);
  run<{ label: string; direct?: boolean }>(createCmd, async (ctx, o) => {
    if (o.direct) {
      const { token, key } = await createAdminKeyDirect(ctx.io.env, o.label);
      return ctx.outJson({ token, keyId: key.id }, () => `${formatSecret("admin key", token)}\n  id ${safe(key.id)}`);
    }
    const r = await ctx.api().createAdminKey({ label: o.label }, ctx.auth());
    ctx.out(
      pb.CreateAdminKeyResponseSchema,
      r,
      () => `${formatSecret("admin key", r.token)}\n\n${keyTable([r.key!], undefined, ctx)}`,
    );
  });

  const list = leaf(admin, "list", {
    summary: "list platform admin keys",
    examples: ["warpflow admin-key list", "MONGODB_URI=... warpflow admin-key list --direct"],
    server: true,
  }).option(DIRECT, DIRECT_HELP);
  run<{ direct?: boolean }>(list, async (ctx, o) => {
    const keys = o.direct
      ? (await listAdminKeysDirect(ctx.io.env)).map(toApiKey)
      : (await ctx.api().listKeys({ tenantId: ADMIN_TENANT_ID }, ctx.auth())).keys;
    printKeys(ctx, keys, undefined, "no admin keys");
  });

  const revoke = leaf(admin, "revoke", {
    summary: "revoke a platform admin key now, permanently (asks first)",
    examples: [
      "warpflow admin-key revoke --key key_3hYt0aR8ZkQ2mN7pLx1c",
      "MONGODB_URI=... warpflow admin-key revoke --key key_3hYt0aR8ZkQ2mN7pLx1c --direct --yes",
    ],
    server: true,
    destructive: true,
  })
    .requiredOption("--key <id>", "the admin key to revoke (key_...)")
    .option(DIRECT, "break-glass: in MongoDB (MONGODB_URI), e.g. when the admin tenant is full");
  run<{ key: string; direct?: boolean }>(revoke, (ctx, o) =>
    revokeKeyConfirmed(ctx, {
      tenant: ADMIN_TENANT_ID,
      keyId: o.key,
      command: "admin-key revoke",
      list: async () =>
        o.direct
          ? (await listAdminKeysDirect(ctx.io.env)).map(toApiKey)
          : (await ctx.api().listKeys({ tenantId: ADMIN_TENANT_ID }, ctx.auth())).keys,
      revoke: async () =>
        o.direct
          ? toApiKey(await revokeAdminKeyDirect(ctx.io.env, o.key))
          : (await ctx.api().revokeKey({ tenantId: ADMIN_TENANT_ID, keyId: o.key }, ctx.auth())).key!,
    }),
  );

  const generate = leaf(admin, "generate", {
    summary: "print a new well-formed admin key, offline (nothing is stored), for the server's ADMIN_KEY_FILE",
    examples: ["warpflow admin-key generate > admin-key && chmod 600 admin-key"],
  });
  run(generate, async (ctx) => {
    // Offline: the same format and checksum the server mints; it becomes a key once the server
    // registers it (ADMIN_KEY_FILE). Printed alone on stdout, so `> file` or a Secret takes it as is.
    const token = generateToken("api_key", ADMIN_TENANT_ID);
    ctx.outJson({ token }, () => token);
  });
}
