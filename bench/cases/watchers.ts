/**
 * Bench case `watchers` (issue 20): what 1,000 open WatchInvalidations streams cost the service.
 *
 * - RSS: the service's resident memory after a GC with 0 watchers and with N open (each has had its
 *   reset and first heartbeat), per round; the difference, median and range over the rounds.
 * - CPU: the service's CPU (100 = one core) over an idle slice with 0 watchers and one with N
 *   (heartbeats only), per round; also the heartbeat messages the clients received per second.
 * - Introspect with N watchers open: the api_key case (service vs the platform floor, paired as in
 *   run.ts) with 0 and with N watchers open, in the same run: the cpu ratios must not move.
 *
 * The watchers are held by a child process (watcher-clients.ts, Node's HTTP/2 client over local
 * addresses 127.0.0.x). Used by run.ts (BENCH_CASES=watchers) with the services run.ts started.
 */
import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { measurePaired, type Service, type Target } from "../lib/harness.js";
import { ask, cpuMsOf, nextMessage, pin, stopChild } from "../lib/proc.js";
import { summarize } from "../lib/report.js";

export interface WatchersCaseOptions {
  service: Service;
  loadgen: ChildProcess;
  /** The api_key Introspect target and its floor (run.ts's plans). */
  introspect: Target;
  floor: Target;
  watchers?: number;
  rounds: number;
  sliceMs?: number;
  caseMs: number;
  floorMs: number;
  warmupMs: number;
  concurrency: number;
  log: (line: string) => void;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const stats = (xs: number[], digits = 2) => {
  const r = (n: number) => Math.round(n * 10 ** digits) / 10 ** digits;
  return { median: r(median(xs)), min: r(Math.min(...xs)), max: r(Math.max(...xs)), rounds: xs.map(r) };
};

function startClients(): Promise<ChildProcess> {
  const file = fileURLToPath(new URL("./watcher-clients.ts", import.meta.url));
  const child = fork(file.replace(/\.js$/, ".ts"), [], { execArgv: ["--import", "tsx"], stdio: "inherit" });
  return nextMessage(child, "ready").then(() => {
    pin(child.pid!, "client");
    return child;
  });
}

export async function runWatchersCase(o: WatchersCaseOptions): Promise<Record<string, unknown>> {
  const n = o.watchers ?? 1000;
  const sliceMs = o.sliceMs ?? 3000;
  const pid = o.service.child.pid!;
  const clients = await startClients();
  const rssMiB = async () => (await ask<{ rss: number }>(o.service.child, { type: "memory" })).rss / 1024 / 1024;
  const cpuPercent = async (ms: number) => {
    const c0 = cpuMsOf(pid);
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, ms));
    return ((cpuMsOf(pid) - c0) / (performance.now() - t0)) * 100;
  };
  const count = async () => (await ask<{ messages: number }>(clients, { type: "count" })).messages;
  const rssDelta: number[] = [];
  const cpuIdle: number[] = [];
  const cpuWatchers: number[] = [];
  const cpuDelta: number[] = [];
  const msgsPerSecond: number[] = [];
  const openMs: number[] = [];
  try {
    for (let round = 0; round < o.rounds; round++) {
      const base = await rssMiB();
      const idle = await cpuPercent(sliceMs);
      const opened = await ask<{ ms: number }>(
        clients,
        { type: "open", port: o.service.port, n, perAddress: 100 },
        120_000,
      );
      openMs.push(opened.ms);
      await new Promise((r) => setTimeout(r, 1000)); // the opening's garbage and JIT settle
      const m0 = await count();
      const busy = await cpuPercent(sliceMs);
      const m1 = await count();
      const withWatchers = await rssMiB();
      await ask(clients, { type: "close" });
      rssDelta.push(withWatchers - base);
      cpuIdle.push(idle);
      cpuWatchers.push(busy);
      cpuDelta.push(busy - idle);
      msgsPerSecond.push(((m1 - m0) / sliceMs) * 1000);
      o.log(
        `watchers round ${round + 1}/${o.rounds}: rss +${(withWatchers - base).toFixed(2)} MiB, cpu ${idle.toFixed(2)}% -> ${busy.toFixed(2)}% of a core, ${Math.round(msgsPerSecond.at(-1)!)} heartbeats/s received`,
      );
    }
    // Introspect's cost with 0 and with N watchers open, paired with the floor as in run.ts.
    const paired = async (label: string) =>
      measurePaired({
        label,
        loadgen: o.loadgen,
        subject: o.introspect,
        reference: o.floor,
        rounds: o.rounds,
        subjectMs: o.caseMs,
        referenceMs: o.floorMs,
        warmupMs: o.warmupMs,
        concurrency: o.concurrency,
      });
    const without = await paired("api_key_0_watchers");
    await ask(clients, { type: "open", port: o.service.port, n, perAddress: 100 }, 120_000);
    const withN = await paired(`api_key_${n}_watchers`);
    await ask(clients, { type: "close" });
    const a = summarize(without.subject, without.reference);
    const b = summarize(withN.subject, withN.reference);
    return {
      watchers: n,
      rss_delta_mib: stats(rssDelta),
      server_cpu_percent_idle: stats(cpuIdle),
      server_cpu_percent_with_watchers: stats(cpuWatchers),
      server_cpu_percent_delta: stats(cpuDelta),
      heartbeat_messages_per_s: stats(msgsPerSecond, 0),
      open_ms: stats(openMs, 0),
      introspect_0_watchers: a,
      [`introspect_${n}_watchers`]: b,
      introspect_cpu_ratio_change_percent:
        a.cpu_ratio && b.cpu_ratio ? Math.round((b.cpu_ratio / a.cpu_ratio - 1) * 1000) / 10 : null,
    };
  } finally {
    await stopChild(clients, 2000);
  }
}
