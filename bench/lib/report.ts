import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import type { Measured, Round } from "./harness.js";
import type { StoreTraffic } from "./metrics-scrape.js";

export const r2 = (n: number) => (Number.isFinite(n) ? Math.round(n * 100) / 100 : null);
export const r3 = (n: number) => (Number.isFinite(n) ? Math.round(n * 1000) / 1000 : null);
export const r4 = (n: number) => (Number.isFinite(n) ? Math.round(n * 10000) / 10000 : null);

export function machine() {
  const model =
    /model name\s*:\s*(.*)/.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? cpus()[0]?.model ?? "unknown";
  return { cpus: cpus().length, cpuModel: model.trim(), node: process.version };
}

/** Fixed-width text table. */
export function table(header: string[], rows: (string | number | null | undefined)[][]): string {
  const cells = [header, ...rows.map((r) => r.map((c) => (c === null || c === undefined ? "-" : String(c))))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  return [line(cells[0]!), widths.map((w) => "-".repeat(w)).join("  "), ...cells.slice(1).map(line)].join("\n");
}

export const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);

export function summarize(r: Measured, ref: Measured | undefined) {
  return {
    calls_per_s: r2(r.callsPerSecond),
    p50_ms: r3(r.p50Ms),
    p99_ms: r3(r.p99Ms),
    server_cpu_ms_per_call: r4(r.serverCpuMsPerCall),
    cpu_ratio: ref ? r3(r.serverCpuMsPerCall / ref.serverCpuMsPerCall) : null,
    throughput_ratio: ref ? r3(r.callsPerSecond / ref.callsPerSecond) : null,
    server_cpu_percent: r2(r.serverCpuPercent),
    client_cpu_percent: r2(r.clientCpuPercent),
    other_cpu_percent: r2(r.otherCpuPercent),
    calls: r.calls,
    errors: r.errors,
    seconds: r2(r.seconds),
    slices: r.slices,
    distinct_tokens: r.distinctTokens,
  };
}

export function storeSummary(st: StoreTraffic | undefined) {
  return (
    st && {
      introspect_store_reads: st.introspectStoreReads,
      find_key_by_hash: st.findKeyByHash,
      find_session_by_hash: st.findSessionByHash,
      get_policy: st.getPolicy,
      reads: st.storeReads,
      writes_record_key_uses: st.recordKeyUses,
      last_used_flushes: st.lastUsedFlushes,
      last_used_keys_flushed: st.lastUsedKeysFlushed,
    }
  );
}

export const median = (xs: number[]): number => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const range = (xs: number[], round: (n: number) => number | null) => {
  const s = xs.filter((x) => Number.isFinite(x));
  return s.length ? [round(Math.min(...s)), round(Math.max(...s))] : null;
};

/**
 * Median and range over the rounds of a paired measurement: each round's ratio compares the
 * subject's slice with the reference slice next to it, so a disturbance hits both sides of it.
 */
export function roundSummary(rounds: Round[]) {
  const cpu = rounds.map((r) => r.subjectCpuMsPerCall / r.referenceCpuMsPerCall);
  const tput = rounds.map((r) => r.subjectCallsPerSecond / r.referenceCallsPerSecond);
  const own = rounds.map((r) => r.subjectCpuMsPerCall);
  const ref = rounds.map((r) => r.referenceCpuMsPerCall);
  return {
    rounds: rounds.length,
    cpu_ratio_median: r3(median(cpu)),
    cpu_ratio_range: range(cpu, r3),
    /** Each round's ratio, in order (how the median came about). */
    cpu_ratios: cpu.map(r3),
    throughput_ratio_median: r3(median(tput)),
    throughput_ratio_range: range(tput, r3),
    server_cpu_ms_per_call_median: r4(median(own)),
    server_cpu_ms_per_call_range: range(own, r4),
    reference_cpu_ms_per_call_median: r4(median(ref)),
    reference_cpu_ms_per_call_range: range(ref, r4),
  };
}
export type RoundSummary = ReturnType<typeof roundSummary>;
