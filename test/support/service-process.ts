import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The real service as a child process (`node --import tsx src/main.ts`, exactly what `npm start`
 * runs, from source): for signals, exit codes and whole-process behaviour. Listens on 127.0.0.1
 * and an ephemeral port, read back from the "listening" log line (so LOG_LEVEL must be info or
 * debug). Every stdout line is kept (or the last `maxLogs`).
 */
export interface ServiceProcess {
  child: ChildProcess;
  pid: number;
  port: number;
  adminKey: string;
  /** Every JSON log line so far (parsed), in order. */
  logs: Record<string, unknown>[];
  stderr(): string;
  /** Resolves with the first log line (past or future) matching `pred`. */
  waitForLog(pred: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Resolves when the process exits: its code, signal and the time (Date.now()) it exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  /** SIGKILL if still running (test cleanup). */
  kill(): void;
}

let saidStore = false;

/** The V8 flags `npm start` and the image's CMD give the service (package.json, Dockerfile). */
export const SERVICE_NODE_FLAGS = ["--max-semi-space-size=16"];

export const repoRoot = fileURLToPath(new URL("../../", import.meta.url));

export async function spawnService(
  opts: {
    env?: Record<string, string>;
    startTimeoutMs?: number /** Keep at most this many log lines (default: all). */;
    maxLogs?: number;
  } = {},
): Promise<ServiceProcess> {
  const dir = mkdtempSync(join(tmpdir(), "wf-proc-"));
  const adminKeyFile = join(dir, "admin-key");
  const env: Record<string, string | undefined> = {
    ...process.env,
    HOST: "127.0.0.1",
    PORT: "0",
    ADMIN_KEY_FILE: adminKeyFile,
    LOG_LEVEL: "info",
    // A fresh database when running the MongoDB leg, so a bootstrap admin key is always issued.
    ...(process.env.MONGODB_URI ? { MONGODB_DB: `wf_proc_${randomBytes(6).toString("hex")}` } : {}),
    ...opts.env,
  };
  if (!saidStore) {
    saidStore = true;
    console.log(
      `service processes in this file run on ${env.MONGODB_URI ? `MongoDB (MONGODB_URI, database ${env.MONGODB_DB})` : "the embedded memory store (set MONGODB_URI to run them on MongoDB)"}`,
    );
  }
  const child = spawn(process.execPath, [...SERVICE_NODE_FLAGS, "--import", "tsx", "src/main.ts"], {
    cwd: repoRoot,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs: Record<string, unknown>[] = [];
  const waiters: { pred: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }[] =
    [];
  let stderr = "";
  let partial = "";
  child.stdout!.setEncoding("utf8");
  child.stdout!.on("data", (chunk: string) => {
    partial += chunk;
    const lines = partial.split("\n");
    partial = lines.pop()!;
    for (const text of lines) {
      if (text.trim() === "") continue;
      let line: Record<string, unknown>;
      try {
        line = JSON.parse(text) as Record<string, unknown>;
      } catch {
        line = { msg: text, unparsed: true };
      }
      logs.push(line);
      if (opts.maxLogs !== undefined && logs.length > opts.maxLogs) logs.splice(0, logs.length - opts.maxLogs);
      for (const w of [...waiters]) {
        if (w.pred(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  });
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (c: string) => (stderr += c));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal, at: Date.now() })),
  );

  const waitForLog = (pred: (l: Record<string, unknown>) => boolean, timeoutMs = 10_000) => {
    const past = logs.find(pred);
    if (past) return Promise.resolve(past);
    return new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(entry), 1);
        reject(new Error(`no log line matched within ${timeoutMs} ms; stderr: ${stderr.slice(0, 500)}`));
      }, timeoutMs);
      const entry = {
        pred,
        resolve: (l: Record<string, unknown>) => {
          clearTimeout(timer);
          resolve(l);
        },
      };
      waiters.push(entry);
      void exited.then(() => {
        if (waiters.includes(entry)) {
          clearTimeout(timer);
          waiters.splice(waiters.indexOf(entry), 1);
          reject(new Error(`process exited before the log line; stderr: ${stderr.slice(0, 500)}`));
        }
      });
    });
  };

  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  };
  try {
    const timeout = opts.startTimeoutMs ?? 15_000;
    const listening = await waitForLog(
      (l) => typeof l.msg === "string" && l.msg.startsWith("listening") && typeof l.port === "number",
      timeout,
    );
    await waitForLog((l) => typeof l.msg === "string" && l.msg.startsWith("no admin key existed"), timeout);
    return {
      child,
      pid: child.pid!,
      port: listening.port as number,
      adminKey: readFileSync(adminKeyFile, "utf8").trim(),
      logs,
      stderr: () => stderr,
      waitForLog,
      exited,
      kill,
    };
  } catch (err) {
    kill();
    throw err;
  }
}
