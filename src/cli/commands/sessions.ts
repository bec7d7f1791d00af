// `warpflow sessions create|revoke|revoke-all`: 1-hour session tokens.
import type { Command } from "commander";
import * as pb from "../../gen/warpflow/auth/v1/token_service_pb.js";
import { formatSession } from "../format-audit.js";
import { formatSecret, safe } from "../format.js";
import type { CommandKit } from "../program.js";
import { relative } from "../table.js";
import { scopeOption } from "../grant-options.js";

interface TenantOpts {
  tenant: string;
}

export function registerSessions(program: Command, { group, leaf, run }: CommandKit): void {
  const sessions = group(program, "sessions", "1-hour session tokens: create, revoke, revoke-all");

  const create = leaf(sessions, "create", {
    summary: "create a 1-hour session token (shown once; its session id is for sessions revoke)",
    examples: ["warpflow sessions create --tenant acme", "warpflow sessions create --tenant acme --scope deals:read"],
    server: true,
  }).requiredOption("--tenant <id>", "the tenant");
  scopeOption(create, "a scope the session grants (within the calling key's own)");
  run<TenantOpts & { scope?: string[] }>(create, async (ctx, o) => {
    const r = await ctx.api().createSession({ tenantId: o.tenant, scopes: o.scope ?? [] }, ctx.auth());
    ctx.out(
      pb.CreateSessionResponseSchema,
      r,
      () =>
        `${formatSecret("session token", r.token)}\n\nsession ${safe(r.sessionId)} of tenant ${safe(r.tenantId)}, expires ${relative(r.expiresAt, ctx.now)}${r.scopes.length ? `, scopes: ${safe(r.scopes.join(" "))}` : ""}`,
    );
  });

  const revoke = leaf(sessions, "revoke", {
    summary: "revoke one session now",
    examples: ["warpflow sessions revoke --tenant acme --session ses_8kQ2mN7pLx1c3hYt0aR8"],
    server: true,
  })
    .requiredOption("--tenant <id>", "the tenant")
    .requiredOption("--session <id>", "the session (ses_..., printed by sessions create)");
  run<TenantOpts & { session: string }>(revoke, async (ctx, o) => {
    const r = await ctx.api().revokeSession({ tenantId: o.tenant, sessionId: o.session }, ctx.auth());
    ctx.out(pb.RevokeSessionResponseSchema, r, () => `revoked: ${formatSession(r.session, ctx)}`);
  });

  const all = leaf(sessions, "revoke-all", {
    summary: "revoke every live session of a tenant now (asks first)",
    examples: ["warpflow sessions revoke-all --tenant acme", "warpflow sessions revoke-all --tenant acme --yes"],
    server: true,
    destructive: true,
  }).requiredOption("--tenant <id>", "the tenant");
  run<TenantOpts>(all, async (ctx, o) => {
    await ctx.confirm(
      `revoke every live session of ${safe(o.tenant)} now, permanently? (their users must sign in again)`,
      "sessions revoke-all",
    );
    const r = await ctx.api().revokeTenantSessions({ tenantId: o.tenant }, ctx.auth());
    ctx.out(
      pb.RevokeTenantSessionsResponseSchema,
      r,
      () => `revoked ${r.revokedCount} live sessions of tenant ${safe(o.tenant)}`,
    );
  });
}
