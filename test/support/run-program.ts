import { execFile } from "node:child_process";
import { repoRoot } from "./service-process.js";

export interface ProgramResult {
  /** The exit code (-1 when killed, e.g. by the timeout, or when it could not start). */
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a program to its end without blocking the event loop (the server under test often runs in
 * this process), from the repository root unless `cwd` says otherwise, with extra environment.
 * The one copy for tests that run a child program and look at its exit code and output.
 */
export function runProgram(
  file: string,
  args: string[],
  opts: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<ProgramResult> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      {
        cwd: opts.cwd ?? repoRoot,
        timeout: opts.timeoutMs ?? 20_000,
        env: { ...process.env, ...opts.env },
        maxBuffer: 16 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        const code = err
          ? typeof (err as { code?: unknown }).code === "number"
            ? (err as { code: number }).code
            : -1
          : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
