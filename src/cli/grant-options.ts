// Issue 22's CLI options: repeatable --scope and --allow-ip (commander collects them into lists),
// and how a key's scopes and allowlist read in a table. The server validates the values.
import type { Command } from "commander";
import type { ApiKey } from "../gen/warpflow/auth/v1/token_service_pb.js";
import { safe } from "./format.js";

/** commander's accumulator for a repeatable option. */
export const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

export interface GrantOpts {
  scope?: string[];
  allowIp?: string[];
}

export function scopeOption(cmd: Command, what: string): Command {
  return cmd.option("--scope <scope>", `${what} (repeatable; none: full tenant access)`, collect);
}

export function allowIpOption(cmd: Command): Command {
  return cmd.option(
    "--allow-ip <cidr>",
    "an IPv4 or IPv6 CIDR the key may be used from (repeatable; none: any address)",
    collect,
  );
}

/** A key table's SCOPES and ALLOWED IPS columns: only when some key has scopes or an allowlist. */
const restricted = (keys: ApiKey[]) => keys.some((k) => k.scopes.length > 0 || k.allowedCidrs.length > 0);

export const grantHeaders = (keys: ApiKey[]): string[] => (restricted(keys) ? ["SCOPES", "ALLOWED IPS"] : []);

export const grantCells = (k: ApiKey, keys: ApiKey[]): string[] =>
  restricted(keys)
    ? [
        k.scopes.length ? safe(k.scopes.join(" ")) : "all",
        k.allowedCidrs.length ? safe(k.allowedCidrs.join(" ")) : "any",
      ]
    : [];
