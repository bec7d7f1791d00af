import { execFileSync, fork, type ChildProcess } from "node:child_process";
import { cpus } from "node:os";
import { openSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** Clock ticks per second of /proc/<pid>/stat utime/stime (USER_HZ: 100 on Linux). */
const CLK_TCK = 100;

/** CPU time (user + system, all threads) a process has used so far, in milliseconds, from /proc. */
export function cpuMsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name (which may contain spaces) start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return ((utime + stime) * 1000) / CLK_TCK;
}

/** CPU time the whole machine has been busy (all cores, every process), in milliseconds. */
export function machineBusyMs(): number {
  const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal ...
  const busy = v[0]! + v[1]! + v[2]! + v[5]! + v[6]! + v[7]!;
  return (busy * 1000) / CLK_TCK;
}

/** Resident set size of a process in MiB, from /proc. */
export function rssMiBOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) / 1024 : NaN;
}

const root = fileURLToPath(new URL("../..", import.meta.url));

/**
 * Forks one of the bench's child processes with an IPC channel; its output goes to `logFile`. By
 * default it runs the tsc output (see build.ts) on plain node, as production does;
 * BENCH_RUNTIME=tsx runs the TypeScript source through tsx instead.
 */
export function forkTs(
  script: string,
  opts: { env?: Record<string, string>; execArgv?: string[]; logFile?: string } = {},
): ChildProcess {
  const out = opts.logFile ? openSync(opts.logFile, "a") : "ignore";
  const viaTsx = process.env.BENCH_RUNTIME === "tsx";
  const file = viaTsx ? `${root}bench/${script}` : `${root}dist/bench/bench/${script.replace(/\.ts$/, ".js")}`;
  return fork(file, [], {
    execArgv: [...(viaTsx ? ["--import", "tsx"] : []), ...(opts.execArgv ?? [])],
    env: { ...process.env, ...opts.env },
    stdio: ["ignore", out, out, "ipc"],
  });
}

/** Waits for the next IPC message of `type` from a child (rejects if the child exits first). */
export function nextMessage<T = Record<string, unknown>>(
  child: ChildProcess,
  type: string,
  timeoutMs = 120_000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: unknown) => {
      const msg = m as { type?: string; message?: string };
      if (msg?.type === type) {
        cleanup();
        resolve(msg as T);
      } else if (msg?.type === "error") {
        cleanup();
        reject(new Error(`child reported: ${msg.message}`));
      }
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`child exited (code ${code}) before sending "${type}"`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out waiting for "${type}"`));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      child.off("message", onMessage);
      child.off("exit", onExit);
    };
    child.on("message", onMessage);
    child.once("exit", onExit);
  });
}

/** Asks a child a question over IPC and waits for the answer of the same type. */
export async function ask<T = Record<string, unknown>>(
  child: ChildProcess,
  msg: { type: string } & Record<string, unknown>,
  timeoutMs?: number,
): Promise<T> {
  const answer = nextMessage<T>(child, `${msg.type}:done`, timeoutMs);
  child.send(msg);
  return answer;
}

/** Stops a child: a polite "shutdown" message, then SIGKILL if it lingers. */
export async function stopChild(child: ChildProcess, graceMs = 15_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  try {
    child.send({ type: "shutdown" });
  } catch {
    child.kill("SIGKILL");
  }
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
}

/**
 * BENCH_PIN: "0" (default: no pinning, as a deployment runs), "1" (pinned) or "both" (every case
 * runs twice in one run, unpinned then pinned; the processes are re-pinned in between).
 */
export type PinMode = "0" | "1" | "both";
export function pinModeOf(value = process.env.BENCH_PIN): PinMode {
  return value === "1" || value === "both" ? value : "0";
}
let pinning = pinModeOf() === "1";
const pinned = new Map<number, "server" | "client">();

/**
 * Pins a process (all its threads) to one CPU, so the servers and the load generator never share
 * a core: on a 2-core machine, servers on CPU 0 and the load generator on CPU 1. Without it, the
 * scheduler's placement alone moved one server's CPU per call by 15-20% between processes; but a
 * deployment is not pinned, so the default is unpinned. Every process is remembered, so
 * setPinning() can move them all between the two ways. Nothing happens with fewer than 2 CPUs or
 * no taskset.
 */
export function pin(pid: number, role: "server" | "client"): boolean {
  pinned.set(pid, role);
  return affinity(pid, role);
}

function affinity(pid: number, role: "server" | "client"): boolean {
  const n = cpus().length;
  if (n < 2) return false;
  const cpuList = pinning ? (role === "server" ? "0" : "1") : `0-${n - 1}`;
  try {
    execFileSync("taskset", ["-a", "-cp", cpuList, String(pid)], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** Pins (true) or unpins (false) every process started so far, and those started later. */
export function setPinning(on: boolean): void {
  pinning = on;
  for (const [pid, role] of pinned) affinity(pid, role);
}

export const isPinned = (): boolean => pinning;
