import { runCli } from "../../src/cli/program.js";
import type { CliIo } from "../../src/cli/io.js";

/**
 * The `warpflow` CLI run in this process (src/cli/program.ts's runCli, the same code the binary
 * runs on its own streams): strings for stdout and stderr, the exit code, a chosen environment (none
 * of the test runner's), standard input as text, and a fake terminal for the confirmation questions.
 */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  /** The questions asked on the (fake) terminal. */
  asked: string[];
}

export interface CliRunOptions {
  env?: Record<string, string | undefined>;
  /** Standard input's content (a pipe); unset: a terminal. */
  stdin?: string;
  /** The answers typed at the terminal, in order (stdin must be unset: a terminal). */
  answers?: string[];
  stdoutIsTTY?: boolean;
  now?: Date;
}

export async function runCliInProcess(args: string[], opts: CliRunOptions = {}): Promise<CliRun> {
  let stdout = "";
  let stderr = "";
  const asked: string[] = [];
  const answers = [...(opts.answers ?? [])];
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(opts.env ?? {})) if (v !== undefined) env[k] = v;
  const io: CliIo = {
    stdout: (s) => void (stdout += s),
    stderr: (s) => void (stderr += s),
    readStdin: () => Promise.resolve(opts.stdin ?? ""),
    ask: (q) => {
      asked.push(q);
      return Promise.resolve(answers.shift() ?? "");
    },
    askHidden: (q) => {
      asked.push(q);
      return Promise.resolve(answers.shift() ?? "");
    },
    stdinIsTTY: opts.stdin === undefined,
    stdoutIsTTY: opts.stdoutIsTTY ?? false,
    env,
    now: () => opts.now ?? new Date(),
  };
  const code = await runCli(args, io);
  return { code, stdout, stderr, asked };
}
