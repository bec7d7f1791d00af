// `warpflow keys suspend|resume` (issue 22): a key inactive until resumed, or usable again.
import type { Command } from "commander";
import * as pb from "../../gen/warpflow/auth/v1/token_service_pb.js";
import { keyTable } from "../format.js";
import type { CommandKit } from "../program.js";

export function registerKeySuspension(keys: Command, { leaf, run }: CommandKit): void {
  const suspend = leaf(keys, "suspend", {
    summary: "suspend a key: inactive at once everywhere until resumed (it keeps its place among the 3)",
    examples: ["warpflow keys suspend --tenant acme --key key_3hYt0aR8ZkQ2mN7pLx1c"],
    server: true,
  })
    .requiredOption("--tenant <id>", "the tenant")
    .requiredOption("--key <id>", "the key to suspend (key_...)");
  run<{ tenant: string; key: string }>(suspend, async (ctx, o) => {
    const r = await ctx.api().suspendKey({ tenantId: o.tenant, keyId: o.key }, ctx.auth());
    ctx.out(pb.SuspendKeyResponseSchema, r, () => `suspended\n${keyTable([r.key!], undefined, ctx)}`);
  });

  const resume = leaf(keys, "resume", {
    summary: "resume a suspended key (never a revoked or expired one)",
    examples: ["warpflow keys resume --tenant acme --key key_3hYt0aR8ZkQ2mN7pLx1c"],
    server: true,
  })
    .requiredOption("--tenant <id>", "the tenant")
    .requiredOption("--key <id>", "the key to resume (key_...)");
  run<{ tenant: string; key: string }>(resume, async (ctx, o) => {
    const r = await ctx.api().resumeKey({ tenantId: o.tenant, keyId: o.key }, ctx.auth());
    ctx.out(pb.ResumeKeyResponseSchema, r, () => `resumed\n${keyTable([r.key!], undefined, ctx)}`);
  });
}
