#!/usr/bin/env node
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { create, toJson, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import * as pb from "../gen/warpflow/auth/v1/token_service_pb.js";
import { createAdminKeyDirect, listAdminKeysDirect, revokeAdminKeyDirect } from "./direct-admin-key.js";
import { generateToken } from "../domain/token-format.js";
import { ADMIN_TENANT_ID } from "../domain/tenant-id.js";
import { toApiKey } from "../service/proto-mapping.js";
import { escapeJsonText, formatKey, formatPolicy, formatSecret, formatTime, safe } from "./format.js";
import { escapeUnprintableKeepLines } from "../domain/printable.js";
import { formatAuditEvent, formatSession, parseAuditAction, parseSince } from "./format-audit.js";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { runWatch } from "./watch-command.js";

/**
 * Admin CLI on the generated Connect client (gRPC over HTTP/2). Installed as `warpflow` (package.json
 * bin, compiled to dist/src/cli/main.js by `npm run build`; only production dependencies):
 *   warpflow keys create --tenant acme --label "CRM Sync"
 *   node dist/src/cli/main.js keys create --tenant acme --label "CRM Sync"   (the Docker image)
 *   npm run cli -- keys create --tenant acme --label "CRM Sync"              (development, from source)
 * The admin key comes from WARPFLOW_ADMIN_KEY (else from the admin key file the server wrote);
 * the server from WARPFLOW_URL (default http://localhost:$PORT, PORT defaulting to 8080, so that inside
 * the server's container the CLI dials the server's own port).
 */
const USAGE = `usage: warpflow <command> [options] [--json]   (from source: npm run cli -- <command> ...)
  keys create --tenant T --label L      create an API key (the key is shown once)
  keys rotate --tenant T --key K        rotate: new key now, old key valid 72 more hours
  keys revoke --tenant T --key K        revoke now, permanently
  keys list --tenant T                  list a tenant's keys
  sessions create --tenant T            create a 1-hour session token
  sessions revoke --tenant T --session S   revoke one session now
  sessions revoke-all --tenant T        revoke every live session of a tenant now
  audit list --tenant T [--action A] [--since 24h|ISO] [--until ISO] [--limit N]
                                        the tenant's audit trail, newest first (admin: platform-level)
  admin-key create --label L            create a platform admin key
  admin-key create --label L --direct   break-glass: create one directly in MongoDB (MONGODB_URI), no admin key needed
  admin-key list [--direct]             list platform admin keys (--direct: from MongoDB, no admin key needed)
  admin-key revoke --key K [--direct]   revoke a platform admin key (--direct: in MongoDB, e.g. a full admin tenant)
  admin-key generate                    print a new well-formed admin key (offline; nothing is stored) to supply
                                        to the server in ADMIN_KEY_FILE, e.g. as a Kubernetes Secret
  policy get --tenant T                 show a tenant's policy
  policy set --tenant T --hipaa on|off  set HIPAA mode
  introspect --token X [--tenant T]     introspect a token
  watch                                 print invalidations as they arrive (WatchInvalidations; Ctrl-C stops;
                                        WARPFLOW_CALLER_TOKEN if the server sets INTROSPECT_CALLER_TOKEN)
environment: WARPFLOW_ADMIN_KEY (else ADMIN_KEY_FILE, default .warpflow/admin-key), WARPFLOW_URL (default http://localhost:$PORT, PORT default 8080)`;

/** WARPFLOW_URL, else the server on this machine at PORT (the server's own setting; default 8080). */
export function serverUrl(env: NodeJS.ProcessEnv = process.env): string {
  return env.WARPFLOW_URL || `http://localhost:${env.PORT || "8080"}`;
}

class UsageError extends Error {}

function adminKey(): string {
  const fromEnv = process.env.WARPFLOW_ADMIN_KEY?.trim();
  if (fromEnv) return fromEnv;
  const file = process.env.ADMIN_KEY_FILE || ".warpflow/admin-key";
  try {
    return readFileSync(file, "utf8").trim();
  } catch {
    throw new UsageError(`set WARPFLOW_ADMIN_KEY (no admin key file at ${file})`);
  }
}

function checkedServerUrl(): string {
  const url = serverUrl();
  let protocol = "";
  try {
    protocol = new URL(url).protocol;
  } catch {
    // not a URL
  }
  if (protocol !== "http:" && protocol !== "https:") {
    throw new UsageError(
      `WARPFLOW_URL must be the server's http:// or https:// address, e.g. http://localhost:8080${process.env.WARPFLOW_URL ? "" : " (unset: built from PORT)"}`,
    );
  }
  return url;
}

/**
 * Option errors name the option, never the value given: a token pasted in the wrong place must not
 * be echoed to the terminal (or a CI log). Node's own parseArgs messages quote the argument.
 */
function parse(argv: string[]) {
  try {
    return parseOptions(argv);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") throw new UsageError("unknown option (see --help for the options)");
    if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") {
      const name = /--([a-z-]+)/.exec((err as Error).message)?.[1];
      const known = name !== undefined && OPTION_NAMES.has(name) ? `--${name}` : "an option";
      throw new UsageError(`${known} is missing its value or takes none (see --help)`);
    }
    throw new UsageError("cannot read the options (see --help)");
  }
}

const OPTION_NAMES = new Set([
  "tenant",
  "label",
  "key",
  "token",
  "hipaa",
  "json",
  "direct",
  "session",
  "action",
  "since",
  "until",
  "limit",
  "help",
]);

function parseOptions(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      tenant: { type: "string" },
      label: { type: "string" },
      key: { type: "string" },
      token: { type: "string" },
      hipaa: { type: "string" },
      json: { type: "boolean", default: false },
      direct: { type: "boolean", default: false },
      session: { type: "string" },
      action: { type: "string" },
      since: { type: "string" },
      until: { type: "string" },
      limit: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
}

async function run(argv: string[]): Promise<void> {
  const { values, positionals } = parse(argv);
  const command = positionals.join(" ");
  if (values.help || command === "") {
    console.log(USAGE);
    return;
  }
  const need = (name: "tenant" | "label" | "key" | "token" | "hipaa" | "session"): string => {
    const v = values[name];
    if (v === undefined || v === "") throw new UsageError(`${command}: --${name} is required`);
    return v;
  };
  // Made at the first call (offline commands need no server address).
  let connected: ReturnType<typeof createClient<typeof pb.TokenService>> | undefined;
  const api = () => (connected ??= createClient(pb.TokenService, createGrpcTransport({ baseUrl: checkedServerUrl() })));
  const auth = () => ({ headers: { authorization: `Bearer ${adminKey()}` } });
  // Every server string is escaped field by field in the formatters (a CR LF in a field cannot
  // start a line); the whole text is escaped once more here, keeping only the formatters' own line
  // breaks. JSON: JSON.stringify escapes C0 controls; C1, DEL and bidi characters are escaped too.
  const out = <D extends DescMessage>(schema: D, msg: MessageShape<D>, human: () => string) =>
    console.log(
      values.json ? escapeJsonText(JSON.stringify(toJson(schema, msg), null, 2)) : escapeUnprintableKeepLines(human()),
    );

  switch (command) {
    case "keys create": {
      const r = await api().createKey({ tenantId: need("tenant"), label: need("label") }, auth());
      return out(pb.CreateKeyResponseSchema, r, () => `${formatSecret("API key", r.token)}\n${formatKey(r.key!)}`);
    }
    case "keys rotate": {
      const r = await api().rotateKey({ tenantId: need("tenant"), keyId: need("key") }, auth());
      return out(
        pb.RotateKeyResponseSchema,
        r,
        () => `${formatSecret("new API key", r.token)}\n${formatKey(r.key!)}\nprevious:\n${formatKey(r.previousKey!)}`,
      );
    }
    case "keys revoke": {
      const r = await api().revokeKey({ tenantId: need("tenant"), keyId: need("key") }, auth());
      return out(pb.RevokeKeyResponseSchema, r, () => formatKey(r.key!));
    }
    case "keys list": {
      const r = await api().listKeys({ tenantId: need("tenant") }, auth());
      return out(pb.ListKeysResponseSchema, r, () => (r.keys.length ? r.keys.map(formatKey).join("\n") : "no keys"));
    }
    case "sessions create": {
      const r = await api().createSession({ tenantId: need("tenant") }, auth());
      return out(
        pb.CreateSessionResponseSchema,
        r,
        () =>
          `${formatSecret("session token", r.token)}\n  tenant ${safe(r.tenantId)}, expires ${formatTime(r.expiresAt)}`,
      );
    }
    case "sessions revoke": {
      const r = await api().revokeSession({ tenantId: need("tenant"), sessionId: need("session") }, auth());
      return out(pb.RevokeSessionResponseSchema, r, () => `revoked: ${formatSession(r.session)}`);
    }
    case "sessions revoke-all": {
      const r = await api().revokeTenantSessions({ tenantId: need("tenant") }, auth());
      return out(
        pb.RevokeTenantSessionsResponseSchema,
        r,
        () => `revoked ${r.revokedCount} live sessions of tenant ${safe(values.tenant ?? "")}`,
      );
    }
    case "audit list": {
      const action = values.action === undefined ? pb.AuditAction.UNSPECIFIED : parseAuditAction(values.action);
      if (action === undefined)
        throw new UsageError("audit list: unknown --action (e.g. key.rotate, session.revoke; see docs/audit.md)");
      const time = (name: "since" | "until") => {
        const v = values[name];
        if (v === undefined) return undefined;
        const d = parseSince(v);
        if (!d) throw new UsageError(`audit list: --${name} must be an ISO time or an age like 24h, 7d`);
        return timestampFromDate(d);
      };
      const limit = values.limit === undefined ? 100 : Number(values.limit);
      if (!Number.isInteger(limit) || limit < 1)
        throw new UsageError("audit list: --limit must be a positive whole number");
      const request = { tenantId: need("tenant"), action, since: time("since"), until: time("until") };
      const events: pb.AuditEvent[] = [];
      let pageToken = "";
      do {
        const page = await api().listAuditEvents(
          { ...request, pageSize: Math.min(limit - events.length, 500), pageToken },
          auth(),
        );
        events.push(...page.events);
        pageToken = page.nextPageToken;
      } while (pageToken !== "" && events.length < limit);
      const r = create(pb.ListAuditEventsResponseSchema, { events, nextPageToken: pageToken });
      return out(pb.ListAuditEventsResponseSchema, r, () =>
        events.length
          ? events.map(formatAuditEvent).join("\n") + (pageToken ? `\n(more: raise --limit)` : "")
          : "no events",
      );
    }
    case "admin-key create": {
      if (values.direct) {
        const { token, key } = await createAdminKeyDirect(need("label"));
        return console.log(
          values.json
            ? JSON.stringify({ token, keyId: key.id })
            : `${formatSecret("admin key", token)}\n  id ${safe(key.id)}`,
        );
      }
      const r = await api().createAdminKey({ label: need("label") }, auth());
      return out(
        pb.CreateAdminKeyResponseSchema,
        r,
        () => `${formatSecret("admin key", r.token)}\n${formatKey(r.key!)}`,
      );
    }
    case "admin-key list": {
      if (values.direct) {
        const keys = await listAdminKeysDirect();
        const r = create(pb.ListKeysResponseSchema, { keys: keys.map(toApiKey) });
        return out(pb.ListKeysResponseSchema, r, () =>
          r.keys.length ? r.keys.map(formatKey).join("\n") : "no admin keys",
        );
      }
      const r = await api().listKeys({ tenantId: ADMIN_TENANT_ID }, auth());
      return out(pb.ListKeysResponseSchema, r, () =>
        r.keys.length ? r.keys.map(formatKey).join("\n") : "no admin keys",
      );
    }
    case "admin-key revoke": {
      if (values.direct) {
        const key = toApiKey(await revokeAdminKeyDirect(need("key")));
        return out(pb.RevokeKeyResponseSchema, create(pb.RevokeKeyResponseSchema, { key }), () => formatKey(key));
      }
      const r = await api().revokeKey({ tenantId: ADMIN_TENANT_ID, keyId: need("key") }, auth());
      return out(pb.RevokeKeyResponseSchema, r, () => formatKey(r.key!));
    }
    case "admin-key generate": {
      // Offline: the same format and checksum the server mints; it becomes a key once the server
      // registers it (ADMIN_KEY_FILE). Printed alone on stdout, so `> file` or a Secret takes it as is.
      const token = generateToken("api_key", ADMIN_TENANT_ID);
      return console.log(values.json ? JSON.stringify({ token }) : token);
    }
    case "policy get": {
      const r = await api().getTenantPolicy({ tenantId: need("tenant") }, auth());
      return out(pb.GetTenantPolicyResponseSchema, r, () => formatPolicy(r.policy));
    }
    case "policy set": {
      const hipaa = need("hipaa");
      if (hipaa !== "on" && hipaa !== "off") throw new UsageError("policy set: --hipaa must be on or off");
      const r = await api().setTenantPolicy({ tenantId: need("tenant"), hipaaEnabled: hipaa === "on" }, auth());
      return out(pb.SetTenantPolicyResponseSchema, r, () => formatPolicy(r.policy));
    }
    case "introspect": {
      const r = await api().introspect({ token: need("token"), expectedTenantId: values.tenant ?? "" });
      return out(pb.IntrospectResponseSchema, r, () =>
        escapeJsonText(JSON.stringify(toJson(pb.IntrospectResponseSchema, r))),
      );
    }
    case "watch":
      return runWatch({ client: api(), json: values.json, callerToken: process.env.WARPFLOW_CALLER_TOKEN });
    default:
      throw new UsageError(`unknown command (the commands are below)\n${USAGE}`);
  }
}

run(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof UsageError) console.error(err.message);
  else if (err instanceof ConnectError) {
    // Name the server the CLI dialed, and the setting that chose it, on every failure to reach it.
    const reach = err.code === Code.Unavailable || err.code === Code.DeadlineExceeded || err.code === Code.Unknown;
    console.error(
      `error: ${safe(err.message)}${reach ? ` (server ${safe(serverUrl())} from ${process.env.WARPFLOW_URL ? "WARPFLOW_URL" : "WARPFLOW_URL unset: http://localhost:$PORT"}; set WARPFLOW_URL to the server's address)` : ""}`,
    );
  } else console.error(`error: ${safe(err instanceof Error ? err.message : String(err))}`);
  process.exit(err instanceof UsageError ? 2 : 1);
});
