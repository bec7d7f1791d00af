// `warpflow audit list`: a tenant's audit trail, newest first.
import type { Command } from "commander";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import * as pb from "../../gen/warpflow/auth/v1/token_service_pb.js";
import { CliError } from "../exit-codes.js";
import { auditTable, parseAuditAction, parseSince } from "../format-audit.js";
import type { CommandKit } from "../program.js";

interface AuditOpts {
  tenant: string;
  action?: string;
  since?: string;
  until?: string;
  limit?: string;
}

export function registerAudit(program: Command, { group, leaf, run }: CommandKit): void {
  const audit = group(program, "audit", "the audit trail: list");
  const list = leaf(audit, "list", {
    summary: "a tenant's audit trail, newest first (tenant admin: platform-level events)",
    examples: [
      "warpflow audit list --tenant acme --since 24h",
      "warpflow audit list --tenant acme --action key.revoke --limit 10 --output json",
    ],
    server: true,
  })
    .requiredOption("--tenant <id>", "the tenant")
    .option("--action <name>", "only this action, e.g. key.rotate, session.revoke (see docs/audit.md)")
    .option("--since <when>", "an ISO time or an age like 90m, 24h, 7d")
    .option("--until <when>", "an ISO time or an age")
    .option("--limit <n>", "at most this many events (default 100)");
  run<AuditOpts>(list, async (ctx, o) => {
    const action = o.action === undefined ? pb.AuditAction.UNSPECIFIED : parseAuditAction(o.action);
    if (action === undefined)
      throw new CliError("audit list: unknown --action (e.g. key.rotate, session.revoke; see docs/audit.md)");
    const time = (name: "since" | "until") => {
      const v = o[name];
      if (v === undefined) return undefined;
      const d = parseSince(v, ctx.now);
      if (!d) throw new CliError(`audit list: --${name} must be an ISO time or an age like 24h, 7d`);
      return timestampFromDate(d);
    };
    const limit = o.limit === undefined ? 100 : Number(o.limit);
    if (!Number.isInteger(limit) || limit < 1)
      throw new CliError("audit list: --limit must be a positive whole number");
    const request = { tenantId: o.tenant, action, since: time("since"), until: time("until") };
    const events: pb.AuditEvent[] = [];
    let pageToken = "";
    do {
      const page = await ctx
        .api()
        .listAuditEvents({ ...request, pageSize: Math.min(limit - events.length, 500), pageToken }, ctx.auth());
      events.push(...page.events);
      pageToken = page.nextPageToken;
    } while (pageToken !== "" && events.length < limit);
    const r = create(pb.ListAuditEventsResponseSchema, { events, nextPageToken: pageToken });
    ctx.out(pb.ListAuditEventsResponseSchema, r, () =>
      events.length ? auditTable(events, ctx) + (pageToken ? `\n(more: raise --limit)` : "") : "no events",
    );
  });
}
