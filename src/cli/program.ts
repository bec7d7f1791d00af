// The `warpflow` command line on commander: one program built per run (so the in-process tests run
// it like a process), the options every command shares, the exit code of each outcome, and errors
// printed without any value the user typed (a token pasted in the wrong place is never echoed).
// commander rather than yargs, clipanion or citty: no dependencies of its own, nested subcommands with
// per-command help, suggestions, choices and exitOverride (so it runs in process); 14.x is the newest
// line that supports Node 20 (15 needs 22.12).
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Command, CommanderError, Option } from "commander";
import { ConnectError } from "@connectrpc/connect";
import { COMMANDS } from "./commands/index.js";
import { createCtx, shownAddress, type CommonOptions, type Ctx, type Tracked } from "./context.js";
import { DomainError } from "../domain/errors.js";
import { CliError, EXIT, EXIT_CODES_TEXT, exitCodeFor, exitCodeForName, type ExitCode } from "./exit-codes.js";
import { safe } from "./format.js";
import type { CliIo } from "./io.js";

export interface LeafSpec {
  /** One line for the command list and the command's help. */
  summary: string;
  /** Shown under "Examples:" in the command's help: at least one. */
  examples: string[];
  /** It calls the server: takes --server. */
  server?: boolean;
  /** It prints something else than a table or JSON (a shell script): no --output. */
  noOutput?: boolean;
  /** It destroys something: asks first on a terminal, takes --yes. */
  destructive?: boolean;
}

/** What a command module gets to add its commands: `leaf` makes one with the shared options, `run` gives it its action. */
export interface CommandKit {
  /** A command that only groups others (`keys`, `sessions`): no action, `warpflow <group> --help` lists them. */
  group: (parent: Command, name: string, summary: string) => Command;
  leaf: (parent: Command, name: string, spec: LeafSpec) => Command;
  /** The action's result is the exit code (undefined: 0). */
  run: <O>(cmd: Command, action: (ctx: Ctx, opts: O & CommonOptions) => Promise<ExitCode | void>) => void;
}

/** A command module: adds its commands (a group such as `keys`, or a single one such as `introspect`) to the program. */
export type RegisterCommands = (program: Command, kit: CommandKit) => void;

function version(): string {
  // src/cli/ from source, dist/src/cli/ when built: the first package.json above this file.
  for (let dir = dirname(fileURLToPath(import.meta.url)); dir !== dirname(dir); dir = dirname(dir)) {
    try {
      return (JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { version: string }).version;
    } catch {
      // keep climbing
    }
  }
  return "unknown";
}

/** Quoted words in commander's messages that are not plainly a command or flag name are not shown. */
const SAFE_WORD = /^[-A-Za-z0-9 ,<>.[\]|]{1,40}$/;
function sanitize(message: string): string {
  return message.replace(/'([^']*)'/g, (whole, word: string) => {
    if (SAFE_WORD.test(word)) return whole;
    const flag = /^(--?[A-Za-z][A-Za-z0-9-]{0,30})=/.exec(word);
    return flag ? `'${flag[1] ?? ""}=(value not shown)'` : "(value not shown)";
  });
}

export function buildProgram(io: CliIo, state: Tracked & { exitCode: ExitCode }): Command {
  const program = new Command("warpflow")
    .description(
      "Admin CLI of the Warpflow token service: API keys, sessions, tenant policy, audit trail, introspection",
    )
    .version(version(), "-V, --version", "print the version")
    .helpOption("-h, --help", "show help (each command has its own: warpflow keys create --help)")
    .addHelpCommand(false)
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr, outputError: () => {} })
    .addHelpText(
      "after",
      `
Server: --server URL, else WARPFLOW_URL, else http://localhost:$PORT (PORT default 8080).
Admin key: WARPFLOW_ADMIN_KEY, else the file ADMIN_KEY_FILE (default .warpflow/admin-key).
Output: a table on a terminal (colour unless NO_COLOR), --output json (or --json) for machines.

${EXIT_CODES_TEXT}`,
    );
  const specs = new Map<Command, LeafSpec>();
  const kit: CommandKit = {
    group: (parent, name, summary) =>
      parent
        .command(name)
        .summary(summary)
        .description(summary)
        .helpOption("-h, --help", "show help")
        .addHelpCommand(false),
    leaf: (parent, name, spec) => {
      const cmd = parent
        .command(name)
        .helpOption("-h, --help", "show help")
        .summary(spec.summary)
        .description(spec.summary);
      specs.set(cmd, spec);
      const examples = spec.examples.map((e) => `  $ ${e}`).join("\n");
      return cmd.addHelpText("after", `\nExample${spec.examples.length > 1 ? "s" : ""}:\n${examples}`);
    },
    run: (cmd, action) => {
      // The shared options after the command's own (its help lists what is particular to it first).
      const spec = specs.get(cmd);
      if (!spec?.noOutput)
        cmd
          .addOption(new Option("-o, --output <format>", "table or json").choices(["table", "json"]).default("table"))
          .option("--json", "the same as --output json");
      if (spec?.server) cmd.option("--server <url>", "the server's address (default: WARPFLOW_URL)");
      if (spec?.destructive) cmd.option("-y, --yes", "do it without asking (needed without a terminal)");
      // Required options are checked here, after commander has refused unknown ones (its own check
      // comes first and would answer "--tenant not specified" to a mistyped --tennant).
      const required = cmd.options.filter((o) => o.mandatory);
      for (const o of required) {
        o.mandatory = false;
        o.description += " (required)";
      }
      cmd.action(async (...args: unknown[]) => {
        const opts = (args.at(-1) as Command).opts() as CommonOptions;
        const missing = required.find((o) => cmd.getOptionValue(o.attributeName()) === undefined);
        if (missing)
          throw new CliError(
            `${commandPath(cmd)}: ${missing.long ?? missing.flags} is required (see ${commandPath(cmd)} --help)`,
          );
        const code = await action(createCtx(io, opts, state), opts as never);
        state.exitCode = code ?? EXIT.ok;
      });
    },
  };
  for (const register of COMMANDS) register(program, kit);
  return program;
}

const commandPath = (cmd: Command): string => (cmd.parent ? `${commandPath(cmd.parent)} ${cmd.name()}` : cmd.name());

/** Looks for --output json / --json before parsing, so that a usage error is JSON too. */
const wantsJson = (argv: string[]) =>
  argv.some(
    (a, i) =>
      a === "--json" ||
      a === "--output=json" ||
      a === "-ojson" ||
      ((a === "--output" || a === "-o") && argv[i + 1] === "json"),
  );

/** Runs one command line; resolves with the exit code. Never throws, never exits the process. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const state: Tracked & { exitCode: ExitCode } = { exitCode: EXIT.ok, closers: [] };
  const fail = (code: string, message: string, exitCode: number) => {
    io.stderr(
      wantsJson(argv)
        ? `${JSON.stringify({ error: { code, message: message.replace(/^error: /, ""), exitCode } })}\n`
        : `${message.startsWith("error:") ? "" : "error: "}${message}\n`,
    );
    return exitCode;
  };
  try {
    await buildProgram(io, state).parseAsync(argv, { from: "user" });
    return state.exitCode;
  } catch (err) {
    return failure(err);
  } finally {
    for (const close of state.closers) close();
  }
  function failure(err: unknown): number {
    if (err instanceof CommanderError) {
      if (err.code === "commander.helpDisplayed" || err.code === "commander.version") return EXIT.ok;
      if (err.code === "commander.help") return EXIT.usage; // a group without its command: help on stderr
      return fail("usage", `${sanitize(err.message)}\n(see warpflow --help)`, EXIT.usage);
    }
    if (err instanceof CliError) return fail(err.code, err.message, err.exitCode);
    if (err instanceof ConnectError) {
      const exitCode = exitCodeFor(err.code);
      // Name the server dialed, and the setting that chose it, on every failure to reach it.
      const a = state.address;
      const reach =
        exitCode === EXIT.unavailable && a
          ? ` (server ${safe(shownAddress(a.url))} from ${a.from}; set WARPFLOW_URL or pass --server with the server's address)`
          : "";
      const name = codeName(err);
      return fail(name, `error: ${safe(err.message)}${reach}`, exitCode);
    }
    if (err instanceof DomainError)
      return fail(err.code, `error: [${err.code}] ${safe(err.message)}`, exitCodeForName(err.code));
    return fail("internal", `error: ${safe(err instanceof Error ? err.message : String(err))}`, EXIT.error);
  }
}

const codeName = (err: ConnectError) => /^\[([a-z_]+)\]/.exec(err.message)?.[1] ?? "unknown";
