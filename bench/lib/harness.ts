import type { ChildProcess } from "node:child_process";
import { fromBinary } from "@bufbuild/protobuf";
import { IntrospectResponseSchema, type IntrospectResponse } from "../../src/gen/warpflow/auth/v1/token_service_pb.js";
import { scrape, storeTraffic, type StoreTraffic } from "./metrics-scrape.js";
import { ask, cpuMsOf, forkTs, machineBusyMs, nextMessage, pin, stopChild } from "./proc.js";

export interface Service {
  child: ChildProcess;
  port: number;
  address: string;
  adminKey: string;
  metricsEnabled: boolean;
  cognito: { enabled: boolean; error?: string };
  prefill?: { keys: number; seconds: number; heapDeltaBytes: number; rssDeltaBytes: number };
  sample: string[];
}

/** Extra node flags for every server process, service and floor alike (BENCH_NODE_FLAGS). */
const serverFlags = () => (process.env.BENCH_NODE_FLAGS ?? "").split(" ").filter(Boolean);

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts bench/service-entry.ts (the real app) in its own process. */
export async function startService(
  env: Record<string, string>,
  opts: { execArgv?: string[]; logFile?: string } = {},
): Promise<Service> {
  const child = forkTs("service-entry.ts", {
    env: { HOST: "127.0.0.1", PORT: "0", LOG_LEVEL: "info", ...env },
    execArgv: ["--expose-gc", ...serverFlags(), ...(opts.execArgv ?? [])],
    logFile: opts.logFile,
  });
  pin(child.pid!, "server");
  const ready = await nextMessage<Omit<Service, "child" | "address">>(child, "ready", 600_000);
  pin(child.pid!, "server"); // again: threads started during start-up
  return { ...ready, child, address: `127.0.0.1:${ready.port}` };
}

export async function startFloor(
  responseHex: string,
  logFile?: string,
  env: Record<string, string> = {},
  execArgv: string[] = [],
): Promise<{ child: ChildProcess; address: string }> {
  const child = forkTs("floor-server.ts", {
    env: { FLOOR_RESPONSE_HEX: responseHex, ...env },
    logFile,
    execArgv: [...serverFlags(), ...execArgv],
  });
  pin(child.pid!, "server");
  const { port } = await nextMessage<{ port: number }>(child, "ready");
  pin(child.pid!, "server");
  return { child, address: `127.0.0.1:${port}` };
}

export async function startLoadGenerator(logFile?: string): Promise<ChildProcess> {
  const child = forkTs("load-generator.ts", { logFile });
  await nextMessage(child, "ready");
  pin(child.pid!, "client");
  return child;
}

/** One side of a paired measurement, summed over its slices. */
export interface Measured {
  name: string;
  callsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  serverCpuMsPerCall: number;
  serverCpuPercent: number;
  /** The load generator's CPU over the slices (100 = one core): shows when the client is the limit. */
  clientCpuPercent: number;
  /** Everything else the machine ran meanwhile (other processes, 100 = one core): noise when high. */
  otherCpuPercent: number;
  calls: number;
  errors: number;
  seconds: number;
  slices: number;
  distinctTokens: number;
  firstResponse?: IntrospectResponse | undefined;
  /** HTTP channels: the first answer's status line and tenant header. */
  firstAnswer?: string | undefined;
  firstError?: string | undefined;
}

export interface Target {
  /** Load-generator channel name (opened with openChannel). */
  channel: string;
  pid: number;
  path: string;
  requestsHex: string[];
}

/** One round of a paired measurement: the subject's slice and the reference slice beside it. */
export interface Round {
  subjectCpuMsPerCall: number;
  referenceCpuMsPerCall: number;
  subjectCallsPerSecond: number;
  referenceCallsPerSecond: number;
}

export interface Paired {
  subject: Measured;
  reference: Measured;
  /** Each round on its own (for medians and ranges; the Measured sides sum every round). */
  rounds: Round[];
  /** Store traffic of the subject's service over `wallSeconds` (first to last subject slice). */
  store?: StoreTraffic | undefined;
  wallSeconds: number;
}

/** A gRPC channel of the load generator; `connections` > 1: that many connections, calls spread over them. */
export async function openChannel(
  loadgen: ChildProcess,
  name: string,
  address: string,
  connections = 1,
): Promise<void> {
  await ask(loadgen, { type: "open", name, address, connections });
}

/** An HTTP/1.1 keep-alive channel (see load-generator.ts: requests are bearer tokens). */
export async function openHttpChannel(
  loadgen: ChildProcess,
  name: string,
  port: number,
  concurrency: number,
): Promise<void> {
  await ask(loadgen, { type: "openHttp", name, port, concurrency });
}

interface RunAnswer {
  calls: number;
  errors: number;
  seconds: number;
  firstResponseHex?: string;
  firstAnswer?: string;
  firstError?: string;
}

/**
 * Paired measurement on a shared machine: `rounds` rounds of one subject slice and one reference
 * slice, in alternating order (ABBA...), so both see the same background load. Server CPU comes
 * from /proc/<pid>/stat (all threads) around each slice; a slice counts every call it started,
 * through the last one's answer, so the CPU sample covers exactly those calls.
 */
export async function measurePaired(args: {
  label: string;
  loadgen: ChildProcess;
  subject: Target;
  reference: Target;
  rounds: number;
  subjectMs: number;
  referenceMs: number;
  warmupMs: number;
  concurrency: number;
  scrapePort?: number | undefined;
}): Promise<Paired> {
  const { loadgen } = args;
  const totals = new Map<
    Target,
    {
      calls: number;
      errors: number;
      seconds: number;
      cpu: number;
      client: number;
      other: number;
      slices: number;
      first?: string;
      firstAnswer?: string;
      firstError?: string;
    }
  >();
  const slice = async (
    t: Target,
    ms: number,
    collect?: string,
  ): Promise<{ cpuMsPerCall: number; callsPerSecond: number }> => {
    const c0 = cpuMsOf(t.pid);
    const l0 = cpuMsOf(loadgen.pid!);
    const b0 = machineBusyMs();
    const r = await ask<RunAnswer>(loadgen, {
      type: "run",
      name: t.channel,
      path: t.path,
      requestsHex: t.requestsHex,
      ms,
      concurrency: args.concurrency,
      collect,
    });
    const c1 = cpuMsOf(t.pid);
    const l1 = cpuMsOf(loadgen.pid!);
    const b1 = machineBusyMs();
    const one = { cpuMsPerCall: (c1 - c0) / r.calls, callsPerSecond: r.calls / r.seconds };
    if (!collect) return one;
    const acc = totals.get(t) ?? { calls: 0, errors: 0, seconds: 0, cpu: 0, client: 0, other: 0, slices: 0 };
    acc.calls += r.calls;
    acc.errors += r.errors;
    acc.seconds += r.seconds;
    acc.cpu += c1 - c0;
    acc.client += l1 - l0;
    acc.other += b1 - b0 - (c1 - c0) - (l1 - l0);
    acc.slices++;
    acc.first ??= r.firstResponseHex;
    acc.firstAnswer ??= r.firstAnswer;
    acc.firstError ??= r.firstError;
    totals.set(t, acc);
    return one;
  };

  // The same warm-up for both sides.
  await slice(args.subject, args.warmupMs);
  await slice(args.reference, args.warmupMs);
  const before = args.scrapePort ? await scrape(args.scrapePort) : undefined;
  const t0 = performance.now();
  const rounds: Round[] = [];
  for (let i = 0; i < args.rounds; i++) {
    const order: [Target, number, string][] = [
      [args.subject, args.subjectMs, `${args.label}:s`],
      [args.reference, args.referenceMs, `${args.label}:r`],
    ];
    if (i % 2 === 1) order.reverse();
    const got = new Map<Target, { cpuMsPerCall: number; callsPerSecond: number }>();
    for (const [t, ms, collect] of order) got.set(t, await slice(t, ms, collect));
    const s = got.get(args.subject)!;
    const r = got.get(args.reference)!;
    rounds.push({
      subjectCpuMsPerCall: s.cpuMsPerCall,
      referenceCpuMsPerCall: r.cpuMsPerCall,
      subjectCallsPerSecond: s.callsPerSecond,
      referenceCallsPerSecond: r.callsPerSecond,
    });
  }
  const wallSeconds = (performance.now() - t0) / 1000;
  const after = args.scrapePort ? await scrape(args.scrapePort) : undefined;

  const summarize = async (t: Target, collect: string, name: string): Promise<Measured> => {
    const a = totals.get(t)!;
    const lat = await ask<{ p50Ms: number; p99Ms: number }>(loadgen, { type: "latency", collect });
    let firstResponse: IntrospectResponse | undefined;
    try {
      firstResponse = a.first ? fromBinary(IntrospectResponseSchema, Buffer.from(a.first, "hex")) : undefined;
    } catch {
      firstResponse = undefined;
    }
    const ms = a.seconds * 1000;
    return {
      name,
      callsPerSecond: a.calls / a.seconds,
      p50Ms: lat.p50Ms,
      p99Ms: lat.p99Ms,
      serverCpuMsPerCall: a.cpu / a.calls,
      serverCpuPercent: (a.cpu / ms) * 100,
      clientCpuPercent: (a.client / ms) * 100,
      otherCpuPercent: (a.other / ms) * 100,
      calls: a.calls,
      errors: a.errors,
      seconds: a.seconds,
      slices: a.slices,
      distinctTokens: t.requestsHex.length,
      firstResponse,
      firstAnswer: a.firstAnswer,
      firstError: a.firstError,
    };
  };
  return {
    subject: await summarize(args.subject, `${args.label}:s`, args.label),
    reference: await summarize(args.reference, `${args.label}:r`, `${args.label}/reference`),
    rounds,
    store: before && after ? storeTraffic(before, after) : undefined,
    wallSeconds,
  };
}

export async function stopAll(children: (ChildProcess | undefined)[]): Promise<void> {
  await Promise.all(children.filter((c): c is ChildProcess => c !== undefined).map((c) => stopChild(c)));
}
