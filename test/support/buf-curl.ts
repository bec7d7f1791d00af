import { join } from "node:path";
import { runProgram, type ProgramResult } from "./run-program.js";
import { repoRoot } from "./service-process.js";

export type BufCurlResult = ProgramResult;

/** The buf CLI of the @bufbuild/buf dev dependency (a native binary: runs offline). */
export const BUF = join(repoRoot, "node_modules", ".bin", "buf");

/**
 * Runs `buf curl <args>` from the repository root (so `--schema proto` finds the module) without
 * blocking the event loop: the server under test runs in this process.
 */
export function bufCurl(args: string[], opts: { timeoutMs?: number } = {}): Promise<BufCurlResult> {
  return runProgram(BUF, ["curl", ...args], { timeoutMs: opts.timeoutMs ?? 20_000 });
}

/** Runs a shell command line (README examples) from the repository root with extra environment. */
export function shell(command: string, env: Record<string, string>, timeoutMs = 30_000): Promise<BufCurlResult> {
  return runProgram("/bin/sh", ["-c", command], { timeoutMs, env });
}

/** The HTTP versions of the responses buf curl reports with -v ("< (#1) HTTP/2.0 200 OK"). */
export function responseHttpVersions(stderr: string): string[] {
  return [...stderr.matchAll(/^buf: < \(#\d+\) (HTTP\/[\d.]+) \d+/gm)].map((m) => m[1]!);
}
