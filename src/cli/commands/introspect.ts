// `warpflow introspect`: what the service answers for a token, read from standard input, or asked for
// without echo on a terminal (never from the command line, where it would land in shell history and
// ps). An inactive token exits 7.
import type { Command } from "commander";
import * as pb from "../../gen/warpflow/auth/v1/token_service_pb.js";
import { EXIT } from "../exit-codes.js";
import { safe } from "../format.js";
import type { CommandKit } from "../program.js";
import { relative } from "../table.js";
import { collect } from "../grant-options.js";

const REASONS: Record<pb.InactiveReason, string> = {
  [pb.InactiveReason.UNSPECIFIED]: "inactive",
  [pb.InactiveReason.MALFORMED]: "not a well-formed token (prefix, tenant id, checksum or length)",
  [pb.InactiveReason.NOT_FOUND]: "no such token was issued",
  [pb.InactiveReason.REVOKED]: "revoked (or its rotation grace period ended)",
  [pb.InactiveReason.EXPIRED]: "expired",
  [pb.InactiveReason.TENANT_POLICY]: "the tenant's policy forbids it (API keys of a HIPAA tenant)",
  [pb.InactiveReason.TENANT_MISMATCH]: "it belongs to another tenant than --tenant",
  [pb.InactiveReason.UNVERIFIED]: "a JWT that did not verify (signature, issuer, audience, token use or claims)",
  [pb.InactiveReason.UNSUPPORTED]: "a token type this deployment does not accept",
  [pb.InactiveReason.INSUFFICIENT_SCOPE]: "it lacks a scope given with --scope",
  [pb.InactiveReason.ADDRESS_NOT_ALLOWED]:
    "the key's IP allowlist does not include --client-address (or none was given)",
  [pb.InactiveReason.SUSPENDED]: "suspended (warpflow keys resume undoes it)",
};

const TYPES: Partial<Record<pb.TokenType, string>> = {
  [pb.TokenType.API_KEY]: "API key",
  [pb.TokenType.SESSION]: "session token",
  [pb.TokenType.COGNITO]: "Cognito JWT",
};

export function registerIntrospect(program: Command, { leaf, run }: CommandKit): void {
  const cmd = leaf(program, "introspect", {
    summary:
      "is a token active? (the token on standard input, or asked for unechoed on a terminal; exit 7 when inactive; WARPFLOW_CALLER_TOKEN if the server sets INTROSPECT_CALLER_TOKEN)",
    examples: ["warpflow introspect --tenant acme < token.txt", 'printf %s "$TOKEN" | warpflow introspect --token -'],
    server: true,
  })
    .option("--token <->", "only '-' (the default): the token from standard input, or asked for on a terminal")
    .option("--tenant <id>", "the tenant the token must belong to")
    .option("--scope <scope>", "a scope the token must hold (repeatable)", collect)
    .option("--client-address <ip>", "the end user's address, checked against a key's IP allowlist");
  run<{ token?: string; tenant?: string; scope?: string[]; clientAddress?: string }>(cmd, async (ctx, o) => {
    const token = await ctx.readToken(o.token);
    // The server's INTROSPECT_CALLER_TOKEN, when it requires one (as for `warpflow watch`): sent, never printed.
    const callerToken = ctx.io.env.WARPFLOW_CALLER_TOKEN;
    const headers: Record<string, string> = callerToken ? { "x-warpflow-caller-token": callerToken } : {};
    const r = await ctx.api().introspect(
      {
        token,
        expectedTenantId: o.tenant ?? "",
        requiredScopes: o.scope ?? [],
        clientAddress: o.clientAddress ?? "",
      },
      { headers },
    );
    ctx.out(pb.IntrospectResponseSchema, r, () => {
      if (!r.active) return `${ctx.paint.red("inactive")}: ${REASONS[r.inactiveReason] ?? "inactive"}`;
      const what = [
        `${TYPES[r.tokenType] ?? "token"} of tenant ${safe(r.tenantId)}`,
        r.keyId ? `key ${safe(r.keyId)}` : "",
        r.sessionId ? `session ${safe(r.sessionId)}` : "",
        r.admin ? "platform admin" : "",
        r.deprecated ? ctx.paint.yellow(`deprecated, revoked ${relative(r.expiresAt, ctx.now)}`) : "",
        !r.deprecated && r.expiresAt ? `expires ${relative(r.expiresAt, ctx.now)}` : "",
        r.scopes.length ? `scopes ${safe(r.scopes.join(" "))}` : "",
      ].filter(Boolean);
      return `${ctx.paint.green("active")}: ${what.join(", ")}`;
    });
    return r.active ? EXIT.ok : EXIT.inactive;
  });
}
