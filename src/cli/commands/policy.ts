// `warpflow policy get|set`: a tenant's policy (HIPAA mode: API keys inactive).
import type { Command } from "commander";
import { Option } from "commander";
import * as pb from "../../gen/warpflow/auth/v1/token_service_pb.js";
import { formatPolicy, safe } from "../format.js";
import type { CommandKit } from "../program.js";
import { CliError } from "../exit-codes.js";
import { durationOption } from "../key-lifecycle-options.js";

export function registerPolicy(program: Command, { group, leaf, run }: CommandKit): void {
  const policy = group(program, "policy", "a tenant's policy: get, set");

  const get = leaf(policy, "get", {
    summary: "show a tenant's policy",
    examples: ["warpflow policy get --tenant acme"],
    server: true,
  }).requiredOption("--tenant <id>", "the tenant");
  run<{ tenant: string }>(get, async (ctx, o) => {
    const r = await ctx.api().getTenantPolicy({ tenantId: o.tenant }, ctx.auth());
    ctx.out(pb.GetTenantPolicyResponseSchema, r, () => formatPolicy(r.policy, ctx));
  });

  const set = leaf(policy, "set", {
    summary:
      "set HIPAA mode on or off (asks first: on makes every API key of the tenant inactive at once) and/or the maximum key lifetime",
    examples: [
      "warpflow policy set --tenant clinic --hipaa on",
      "warpflow policy set --tenant clinic --hipaa off --yes",
      "warpflow policy set --tenant acme --max-key-lifetime 365d   # keys created from now on; HIPAA unchanged",
      "warpflow policy set --tenant acme --max-key-lifetime none",
    ],
    server: true,
    destructive: true,
  })
    .requiredOption("--tenant <id>", "the tenant")
    .addOption(new Option("--hipaa <mode>", "HIPAA mode").choices(["on", "off"]))
    .option("--max-key-lifetime <duration>", "longest lifetime of new keys (1h to 3650d, e.g. 365d), or none");
  run<{ tenant: string; hipaa?: "on" | "off"; maxKeyLifetime?: string }>(set, async (ctx, o) => {
    if (o.hipaa === undefined && o.maxKeyLifetime === undefined)
      throw new CliError("policy set: give --hipaa on|off, --max-key-lifetime, or both");
    const paths = [...(o.hipaa ? ["hipaa_enabled"] : []), ...(o.maxKeyLifetime ? ["max_key_lifetime"] : [])];
    const maxKeyLifetime =
      o.maxKeyLifetime === undefined || o.maxKeyLifetime === "none"
        ? undefined
        : durationOption("policy set", "--max-key-lifetime", o.maxKeyLifetime);
    if (o.hipaa === undefined) {
      // Only the maximum: nothing becomes inactive, no question.
      const r = await ctx
        .api()
        .setTenantPolicy({ tenantId: o.tenant, maxKeyLifetime, updateMask: { paths } }, ctx.auth());
      return ctx.out(pb.SetTenantPolicyResponseSchema, r, () => formatPolicy(r.policy, ctx));
    }
    const on = o.hipaa === "on";
    const tenant = safe(o.tenant);
    await ctx.confirm(
      on
        ? `turn HIPAA mode on for ${tenant} now? Every API key of ${tenant} stops working at once (sessions and Cognito tokens keep working)`
        : `turn HIPAA mode off for ${tenant} now? Its non-revoked API keys work again at once`,
      "policy set",
    );
    const r = await ctx
      .api()
      .setTenantPolicy({ tenantId: o.tenant, hipaaEnabled: on, maxKeyLifetime, updateMask: { paths } }, ctx.auth());
    ctx.out(pb.SetTenantPolicyResponseSchema, r, () => formatPolicy(r.policy, ctx));
  });
}
