import type { ChildProcess } from "node:child_process";
import { fromBinary } from "@bufbuild/protobuf";
import { IntrospectResponseSchema, type IntrospectResponse } from "../../src/gen/warpflow/auth/v1/token_service_pb.js";
import { scrape, storeTraffic, type StoreTraffic } from "./metrics-scrape.js";
import { ask, cpuMsOf, forkTs, machineBusyMs, nextMessage, stopChild } from "./proc.js";

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

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts bench/service-entry.ts (the real app) in its own process. */
export async function startService(env: Record<string, string>, opts: { execArgv?: string[]; logFile?: string } = {}): Promise<Service> {
  const child = forkTs("service-entry.ts", {
    env: { HOST: "127.0.0.1", PORT: "0", LOG_LEVEL: "info", ...env },
    execArgv: ["--expose-gc", ...(opts.execArgv ?? [])],
    logFile: opts.logFile,
  });
  const ready = await nextMessage<Omit<Service, "child" | "address">>(child, "ready", 600_000);
  return { ...ready, child, address: `127.0.0.1:${ready.port}` };
}

export async function startFloor(responseHex: string, logFile?: string, env: Record<string, string> = {}): Promise<{ child: ChildProcess; address: string }> {
  const child = forkTs("floor-server.ts", { env: { FLOOR_RESPONSE_HEX: responseHex, ...env }, logFile });
  const { port } = await nextMessage<{ port: number }>(child, "ready");
  return { child, address: `127.0.0.1:${port}` };
}

export async function startLoadGenerator(logFile?: string): Promise<ChildProcess> {
  const child = forkTs("load-generator.ts", { logFile });
  await nextMessage(child, "ready");
  return child;
}

export interface CaseResult {
  case: string;
  callsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  serverCpuMsPerCall: number;
  serverCpuPercent: number;
  /** The load generator's CPU over the window (100 = one core): shows when the client is the limit. */
  clientCpuPercent: number;
  /** Everything else the machine ran meanwhile (other processes): noise when high. */
  otherCpuPercent: number;
  calls: number;
  errors: number;
  seconds: number;
  distinctTokens: number;
  store?: StoreTraffic | undefined;
  firstResponse?: IntrospectResponse | undefined;
}

/**
 * One case: warm up, then measure a fixed window. Server CPU comes from /proc/<pid>/stat (all
 * threads); store traffic from two /metrics scrapes taken outside the window's CPU sample.
 */
export async function measureCase(args: {
  name: string;
  loadgen: ChildProcess;
  server: { child: ChildProcess; address: string; port?: number };
  path: string;
  requestsHex: string[];
  concurrency: number;
  warmupMs: number;
  measureMs: number;
  scrapeMetrics: boolean;
}): Promise<CaseResult> {
  const pid = args.server.child.pid!;
  const started = await ask<{ firstResponseHex: string }>(args.loadgen, {
    type: "start",
    address: args.server.address,
    path: args.path,
    requestsHex: args.requestsHex,
    concurrency: args.concurrency,
  });
  await sleep(args.warmupMs);
  const before = args.scrapeMetrics ? await scrape(args.server.port!) : undefined;
  const cpu0 = cpuMsOf(pid);
  const clientCpu0 = cpuMsOf(args.loadgen.pid!);
  const busy0 = machineBusyMs();
  await ask(args.loadgen, { type: "mark" });
  await sleep(args.measureMs);
  const stats = await ask<{ calls: number; errors: number; seconds: number; callsPerSecond: number; p50Ms: number; p99Ms: number }>(args.loadgen, { type: "stop" });
  const cpu1 = cpuMsOf(pid);
  const clientCpu1 = cpuMsOf(args.loadgen.pid!);
  const busy1 = machineBusyMs();
  const after = args.scrapeMetrics ? await scrape(args.server.port!) : undefined;
  let firstResponse: IntrospectResponse | undefined;
  try {
    firstResponse = fromBinary(IntrospectResponseSchema, Buffer.from(started.firstResponseHex, "hex"));
  } catch {
    firstResponse = undefined;
  }
  return {
    case: args.name,
    callsPerSecond: stats.callsPerSecond,
    p50Ms: stats.p50Ms,
    p99Ms: stats.p99Ms,
    serverCpuMsPerCall: (cpu1 - cpu0) / stats.calls,
    serverCpuPercent: ((cpu1 - cpu0) / (stats.seconds * 1000)) * 100,
    clientCpuPercent: ((clientCpu1 - clientCpu0) / (stats.seconds * 1000)) * 100,
    otherCpuPercent: ((busy1 - busy0 - (cpu1 - cpu0) - (clientCpu1 - clientCpu0)) / (stats.seconds * 1000)) * 100,
    calls: stats.calls,
    errors: stats.errors,
    seconds: stats.seconds,
    distinctTokens: args.requestsHex.length,
    store: before && after ? storeTraffic(before, after) : undefined,
    firstResponse,
  };
}

export async function stopAll(children: (ChildProcess | undefined)[]): Promise<void> {
  await Promise.all(children.filter((c): c is ChildProcess => c !== undefined).map((c) => stopChild(c)));
}
