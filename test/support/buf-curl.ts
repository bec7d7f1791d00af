import { execFile } from "node:child_process";
import { join } from "node:path";
import { repoRoot } from "./service-process.js";

export interface BufCurlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The buf CLI of the @bufbuild/buf dev dependency (a native binary: runs offline). */
export const BUF = join(repoRoot, "node_modules", ".bin", "buf");

/**
 * Runs `buf curl <args>` from the repository root (so `--schema proto` finds the module) without
 * blocking the event loop: the server under test runs in this process.
 */
export function bufCurl(args: string[], opts: { timeoutMs?: number } = {}): Promise<BufCurlResult> {
  return run(BUF, ["curl", ...args], opts.timeoutMs);
}

/** Runs a shell command line (README examples) from the repository root with extra environment. */
export function shell(command: string, env: Record<string, string>, timeoutMs = 30_000): Promise<BufCurlResult> {
  return run("/bin/sh", ["-c", command], timeoutMs, env);
}

function run(file: string, args: string[], timeoutMs = 20_000, env: Record<string, string> = {}): Promise<BufCurlResult> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd: repoRoot, timeout: timeoutMs, env: { ...process.env, ...env }, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** The HTTP versions of the responses buf curl reports with -v ("< (#1) HTTP/2.0 200 OK"). */
export function responseHttpVersions(stderr: string): string[] {
  return [...stderr.matchAll(/^buf: < \(#\d+\) (HTTP\/[\d.]+) \d+/gm)].map((m) => m[1]!);
}
