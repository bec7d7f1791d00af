import type { ChildProcess } from "node:child_process";
import type { Service } from "./harness.js";

/**
 * The case registry of `npm run bench`: a case in a file of its own (bench/cases/<name>.ts) calls
 * registerCase() when imported, and run.ts imports it with one line. The built-in Introspect cases
 * (api_key, session, ...) stay in run.ts; a registered case runs after them, once per pinning pass,
 * and is selected by name with BENCH_CASES like the others.
 */
export interface CaseContext {
  loadgen: ChildProcess;
  /** The main service (metrics on), seeded, warmed up, its channel "service" open. */
  service: Service;
  /** The no-op grpc-js floor, its channel "floor" open. */
  floor: { child: ChildProcess; address: string; path: string };
  /** Encoded IntrospectRequest bytes (hex) of the seeded API keys and sessions. */
  requests: { apiKeys: string[]; sessions: string[] };
  /** The seeded tokens themselves (for cases that build their own requests). */
  tokens: { apiKeys: string[]; sessions: string[] };
  knobs: { rounds: number; caseMs: number; floorMs: number; warmupMs: number; concurrency: number };
  /** True in the pinned pass. */
  pinned: boolean;
  /** Scratch directory for logs. */
  dir: string;
  /** Processes the case started: stopped with everything else at the end of the run. */
  track(child: ChildProcess): void;
}

export interface CaseOutput {
  /** Kept in the result file under the case's name (plus "_pinned" in the pinned pass of BENCH_PIN=both). */
  result: Record<string, unknown>;
  /** Printed after the main table: a header and its rows. */
  table?: { header: string[]; rows: (string | number | null)[][] };
  targets?: Record<string, { met: boolean; detail: string }>;
}

export interface BenchCase {
  name: string;
  /** One line for the run's log and the README. */
  describe: string;
  run(ctx: CaseContext): Promise<CaseOutput>;
}

const registered: BenchCase[] = [];

export function registerCase(c: BenchCase): void {
  if (registered.some((r) => r.name === c.name)) throw new Error(`bench case ${c.name} registered twice`);
  registered.push(c);
}

export const registeredCases = (): readonly BenchCase[] => registered;
