/**
 * Bench case `watchers` (issue 20): what 1,000 open WatchInvalidations streams cost the service.
 *
 * - RSS: the service's resident memory after a GC with 0 watchers and with N open (each has had its
 *   reset and first heartbeat), per round; the difference, median and range over the rounds.
 * - CPU: the service's CPU (100 = one core) over an idle slice with 0 watchers and one with N
 *   (heartbeats only), per round; also the heartbeat messages the clients received per second, and
 *   the service's longest event-loop block in each slice (a heartbeat tick's, with N).
 * - Introspect with N watchers open: the api_key case (service vs the platform floor, paired as in
 *   run.ts) with 0 and with N watchers open, in the same run: the cpu ratios must not move. Also
 *   the N-watcher figure net of the heartbeats' CPU (the idle delta above, per second of the slice),
 *   and the p99 latency with 0 and N.
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
  const memory = async () => {
    const m = await ask<{ rss: number; heapUsed: number }>(o.service.child, { type: "memory" });
    heapNow = m.heapUsed / 1024 / 1024;
    return m.rss / 1024 / 1024;
  };
  let heapNow = 0;
  const rssMiB = memory;
  const cpuPercent = async (ms: number) => {
    const c0 = cpuMsOf(pid);
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, ms));
    return ((cpuMsOf(pid) - c0) / (performance.now() - t0)) * 100;
  };
  /** The service's CPU over an idle slice and its event loop's longest block meanwhile. */
  const idleSlice = async (ms: number) => {
    await ask(o.service.child, { type: "loop:start" });
    const cpu = await cpuPercent(ms);
    const loop = await ask<{ maxMs: number; p99Ms: number }>(o.service.child, { type: "loop:stop" });
    return { cpu, loopMaxMs: loop.maxMs, loopP99Ms: loop.p99Ms };
  };
  const count = async () => (await ask<{ messages: number }>(clients, { type: "count" })).messages;
  const rssDelta: number[] = [];
  /** The JS heap's share of it (the rest is native: nghttp2 streams, socket buffers). */
  const heapDelta: number[] = [];
  const cpuIdle: number[] = [];
  const cpuWatchers: number[] = [];
  const cpuDelta: number[] = [];
  const msgsPerSecond: number[] = [];
  const openMs: number[] = [];
  /** Longest event-loop block (ms) in the idle slice with 0 watchers and with N (a heartbeat tick). */
  const loopMax0: number[] = [];
  const loopMaxN: number[] = [];
  const loopP990: number[] = [];
  const loopP99N: number[] = [];
  try {
    for (let round = 0; round < o.rounds; round++) {
      const base = await rssMiB();
      const heapBase = heapNow;
      const idleSlice0 = await idleSlice(sliceMs);
      const idle = idleSlice0.cpu;
      const opened = await ask<{ ms: number }>(
        clients,
        { type: "open", port: o.service.port, n, perAddress: 100 },
        120_000,
      );
      openMs.push(opened.ms);
      await new Promise((r) => setTimeout(r, 1000)); // the opening's garbage and JIT settle
      const m0 = await count();
      const busySlice = await idleSlice(sliceMs);
      const busy = busySlice.cpu;
      const m1 = await count();
      loopMax0.push(idleSlice0.loopMaxMs);
      loopMaxN.push(busySlice.loopMaxMs);
      loopP990.push(idleSlice0.loopP99Ms);
      loopP99N.push(busySlice.loopP99Ms);
      const withWatchers = await rssMiB();
      heapDelta.push(heapNow - heapBase);
      await ask(clients, { type: "close" });
      rssDelta.push(withWatchers - base);
      cpuIdle.push(idle);
      cpuWatchers.push(busy);
      cpuDelta.push(busy - idle);
      msgsPerSecond.push(((m1 - m0) / sliceMs) * 1000);
      o.log(
        `watchers round ${round + 1}/${o.rounds}: rss +${(withWatchers - base).toFixed(2)} MiB, cpu ${idle.toFixed(2)}% -> ${busy.toFixed(2)}% of a core, longest loop block ${idleSlice0.loopMaxMs.toFixed(1)} -> ${busySlice.loopMaxMs.toFixed(1)} ms, ${Math.round(msgsPerSecond.at(-1)!)} heartbeats/s received`,
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
    // The heartbeats' own CPU (measured idle above, N watchers minus none, per ms of wall time) is
    // charged to the calls by server CPU / calls: taken out here, so the per-call figure is the
    // calls' own cost with N watchers open (both are reported).
    const heartbeatCpuMsPerMs = Math.max(0, median(cpuDelta)) / 100;
    const net = (m: typeof withN.subject) =>
      (m.serverCpuMsPerCall * m.calls - heartbeatCpuMsPerMs * m.seconds * 1000) / m.calls;
    const bNetCpu = net(withN.subject);
    const bNetRatio = bNetCpu / withN.reference.serverCpuMsPerCall;
    return {
      watchers: n,
      rss_delta_mib: stats(rssDelta),
      heap_used_delta_mib: stats(heapDelta),
      server_cpu_percent_idle: stats(cpuIdle),
      server_cpu_percent_with_watchers: stats(cpuWatchers),
      server_cpu_percent_delta: stats(cpuDelta),
      heartbeat_messages_per_s: stats(msgsPerSecond, 0),
      open_ms: stats(openMs, 0),
      introspect_0_watchers: a,
      [`introspect_${n}_watchers`]: b,
      introspect_cpu_ratio_change_percent:
        a.cpu_ratio && b.cpu_ratio ? Math.round((b.cpu_ratio / a.cpu_ratio - 1) * 1000) / 10 : null,
      [`introspect_${n}_watchers_net_of_heartbeats`]: {
        server_cpu_ms_per_call: Math.round(bNetCpu * 1e4) / 1e4,
        cpu_ratio: Math.round(bNetRatio * 1000) / 1000,
      },
      introspect_net_cpu_ratio_change_percent: a.cpu_ratio
        ? Math.round((bNetRatio / a.cpu_ratio - 1) * 1000) / 10
        : null,
      introspect_p99_ms_0_vs_n_watchers: [a.p99_ms, b.p99_ms],
      loop_max_block_ms_idle_0_watchers: stats(loopMax0, 1),
      loop_max_block_ms_idle_n_watchers: stats(loopMaxN, 1),
      loop_delay_p99_ms_idle_0_watchers: stats(loopP990, 1),
      loop_delay_p99_ms_idle_n_watchers: stats(loopP99N, 1),
    };
  } finally {
    await stopChild(clients, 2000);
  }
}
