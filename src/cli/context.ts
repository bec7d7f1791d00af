// What every command gets: the output mode and its printers, the server (from --server, else
// WARPFLOW_URL, else localhost:$PORT) and a client made at the first call, the admin key, the
// confirmation of destructive commands and the token read from standard input.
import { readFileSync } from "node:fs";
import { toJson, type DescMessage, type JsonValue, type MessageShape } from "@bufbuild/protobuf";
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { TokenService } from "../gen/warpflow/auth/v1/token_service_pb.js";
import { escapeUnprintable } from "../domain/printable.js";
import { CliError, EXIT } from "./exit-codes.js";
import { escapeJsonText } from "./format.js";
import type { CliIo } from "./io.js";
import { createPaint, type Paint } from "./table.js";

export interface CommonOptions {
  output?: "table" | "json";
  json?: boolean;
  server?: string;
  yes?: boolean;
}

export interface ServerAddress {
  url: string;
  /** Which setting chose it: "--server", "WARPFLOW_URL", or "WARPFLOW_URL unset: http://localhost:$PORT". */
  from: string;
}

/** --server, else WARPFLOW_URL, else the server on this machine at PORT (the server's own setting; default 8080). */
export function serverAddress(server: string | undefined, env: NodeJS.ProcessEnv): ServerAddress {
  if (server) return { url: server, from: "--server" };
  if (env.WARPFLOW_URL) return { url: env.WARPFLOW_URL, from: "WARPFLOW_URL" };
  return { url: `http://localhost:${env.PORT || "8080"}`, from: "WARPFLOW_URL unset: http://localhost:$PORT" };
}

/**
 * The address as printed in messages: without user:password and without query or fragment (a URL
 * like http://user:pass@host/?token=... must not put its secrets on a terminal or in a CI log).
 */
export function shownAddress(url: string): string {
  try {
    const u = new URL(url);
    const hidden = u.username !== "" || u.password !== "" || u.search !== "" || u.hash !== "";
    u.username = "";
    u.password = "";
    u.search = "";
    u.hash = "";
    return hidden ? `${u.href} (credentials, query and fragment not shown)` : url;
  } catch {
    return "(not a URL)";
  }
}

export interface Ctx {
  io: CliIo;
  json: boolean;
  paint: Paint;
  now: Date;
  address: () => ServerAddress;
  api: () => Client<typeof TokenService>;
  auth: () => { headers: { authorization: string } };
  /** Prints a message: its proto JSON with --output json, else `human()`. */
  out: <D extends DescMessage>(schema: D, msg: MessageShape<D>, human: () => string, extra?: object) => void;
  /** Prints plain JSON with --output json, else `human()`. */
  outJson: (value: JsonValue | object, human: () => string) => void;
  /** Resolves when the user said yes on a terminal (or gave --yes); throws otherwise. */
  confirm: (question: string, what: string) => Promise<void>;
  /** The token from standard input (a pipe or file), or asked for without echo on a terminal; never from argv. */
  readToken: (flag: string | undefined) => Promise<string>;
}

/** What outlives a command: the address it dialed (named in errors), the connections to close at the end. */
export interface Tracked {
  address?: ServerAddress;
  closers: (() => void)[];
}

export function createCtx(io: CliIo, opts: CommonOptions, tracked: Tracked): Ctx {
  const json = opts.json === true || opts.output === "json";
  const address = () => {
    const a = serverAddress(opts.server, io.env);
    tracked.address = a;
    let protocol = "";
    try {
      protocol = new URL(a.url).protocol;
    } catch {
      // not a URL
    }
    if (protocol !== "http:" && protocol !== "https:") {
      const name = a.from === "--server" ? "--server" : "WARPFLOW_URL";
      throw new CliError(
        `${name} must be the server's http:// or https:// address, e.g. http://localhost:8080${a.from.startsWith("WARPFLOW_URL unset") ? " (unset: built from PORT)" : ""}`,
      );
    }
    return a;
  };
  let client: Client<typeof TokenService> | undefined;
  const print = (text: string) => io.stdout(`${text}\n`);
  return {
    io,
    json,
    paint: createPaint(io.stdoutIsTTY && !json && !io.env.NO_COLOR),
    now: io.now(),
    address,
    api: () => {
      if (client) return client;
      const baseUrl = address().url;
      const sessionManager = new Http2SessionManager(baseUrl);
      tracked.closers.push(() => sessionManager.abort());
      return (client = createClient(TokenService, createGrpcTransport({ baseUrl, sessionManager })));
    },
    auth: () => ({ headers: { authorization: `Bearer ${adminKey(io.env)}` } }),
    // Every server string is escaped field by field in the formatters; the whole text once more here,
    // keeping only the formatters' own line breaks. JSON: C1, DEL and bidi characters are escaped too.
    out: (schema, msg, human, extra) =>
      json
        ? print(escapeJsonText(JSON.stringify({ ...(toJson(schema, msg) as object), ...extra }, null, 2)))
        : print(escapeKeepingPaint(human())),
    outJson: (value, human) =>
      print(json ? escapeJsonText(JSON.stringify(value, null, 2)) : escapeKeepingPaint(human())),
    confirm: async (question, what) => {
      if (opts.yes) return;
      if (!io.stdinIsTTY)
        throw new CliError(`${what} acts at once: confirm on a terminal, or pass --yes (no terminal here)`, EXIT.usage);
      const answer = (await io.ask(`${question} [y/N] `)).trim().toLowerCase();
      if (answer !== "y" && answer !== "yes")
        throw new CliError("not confirmed: nothing was changed", EXIT.error, "not_confirmed");
    },
    readToken: async (flag) => {
      if (flag !== undefined && flag !== "-")
        throw new CliError(
          "--token takes only '-' (read the token from standard input): a token on the command line lands in shell history and ps",
        );
      // On a terminal: asked for, not echoed. Otherwise: the whole of standard input, one token on one line.
      const text = io.stdinIsTTY ? await io.askHidden("token (not shown): ") : await io.readStdin();
      const lines = text.split(/\r?\n/).filter((l) => l.trim() !== "");
      if (lines.length !== 1)
        throw new CliError(
          lines.length > 1
            ? "standard input must hold one token on one line"
            : io.stdinIsTTY
              ? "no token given"
              : "no token on standard input",
        );
      return lines[0]!.trim();
    },
  };
}

/** The paint's own colour codes (table.ts) are the only escape sequences kept; the rest is escaped. */
const PAINT = /(\x1b\[(?:31|32|33|39|1|2|22)m)/; // eslint-disable-line no-control-regex
const escapeKeepingPaint = (text: string): string =>
  text
    .split("\n")
    .map((line) =>
      line
        .split(PAINT)
        .map((part, i) => (i % 2 === 1 ? part : escapeUnprintable(part)))
        .join(""),
    )
    .join("\n");

function adminKey(env: NodeJS.ProcessEnv): string {
  const fromEnv = env.WARPFLOW_ADMIN_KEY?.trim();
  if (fromEnv) return fromEnv;
  const file = env.ADMIN_KEY_FILE || ".warpflow/admin-key";
  try {
    return readFileSync(file, "utf8").trim();
  } catch {
    throw new CliError(`set WARPFLOW_ADMIN_KEY (no admin key file at ${file})`, EXIT.auth, "no_admin_key");
  }
}
