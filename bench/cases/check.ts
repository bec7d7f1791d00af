/**
 * Case `check`: Envoy's ext_authz Check (envoy.service.auth.v3.Authorization/Check) with the seeded
 * API keys, each CheckRequest shaped like the one Envoy's HTTP filter sends for a plain GET (peer
 * addresses, a dozen request headers, the route's tenant binding as a context extension). Two
 * paired measurements in the same run: Check against the grpc-js floor (like every case), and
 * Check against the api_key Introspect on the same service, slice by slice, which is the target
 * (issue 23): Check's server CPU per call within 1.1x of Introspect's. A third pairing shows what
 * the request's size alone costs: the no-op floor fed Check's bytes against Introspect's.
 *
 * The target's pairing runs at least CHECK_ROUNDS rounds (BENCH_CHECK_ROUNDS; more when BENCH_ROUNDS
 * is higher), and a control pairs Introspect with itself on the same service: on this 2-core
 * machine one method's server CPU per call scatters by a quarter from one 2 s slice to the next
 * (Introspect against itself: per-round ratios 0.87-1.65 in one run, bench/results/s34), so a median
 * of five rounds moves by more than the target's margin. The control's own median and range is the
 * run's measure of that scatter; the pooled ratio (every round's CPU over every round's calls, each
 * side) is printed beside the median.
 */
import { fromBinary } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Authorization, CheckRequestSchema } from "../../src/gen/envoy/service/auth/v3/external_auth_pb.js";
import { registerCase } from "../lib/cases.js";
import { checkRequestHex } from "./check-request.js";
import { FLOOR_PATH, INTROSPECT_PATH } from "../lib/constants.js";
import { measurePaired } from "../lib/harness.js";
import { r3, roundSummary } from "../lib/report.js";

const CHECK_PATH = "/envoy.service.auth.v3.Authorization/Check";
const TARGET = 1.1;
const CHECK_ROUNDS = Number(process.env.BENCH_CHECK_ROUNDS ?? 9);

registerCase({
  name: "check",
  describe: "Envoy ext_authz Check (api keys, Envoy-shaped requests) paired with the floor, and with Introspect",
  async run(ctx) {
    const checks = ctx.tokens.apiKeys.map(checkRequestHex);
    // The requests must be allowed ones (OK with the claim headers), or this measures denials.
    const client = createClient(Authorization, createGrpcTransport({ baseUrl: `http://${ctx.service.address}` }));
    const sample = await client.check(fromBinary(CheckRequestSchema, Buffer.from(checks[0]!, "hex")));
    const allowed = sample.status?.code === 0 && sample.httpResponse.case === "okResponse";
    const service = { channel: "service", pid: ctx.service.child.pid! };
    const suffix = ctx.pinned ? "_pinned" : "";
    const common = {
      loadgen: ctx.loadgen,
      rounds: ctx.knobs.rounds,
      subjectMs: ctx.knobs.caseMs,
      warmupMs: ctx.knobs.warmupMs,
      concurrency: ctx.knobs.concurrency,
    };
    const vsFloor = await measurePaired({
      ...common,
      label: `check${suffix}`,
      subject: { ...service, path: CHECK_PATH, requestsHex: checks },
      reference: { channel: "floor", pid: ctx.floor.child.pid!, path: FLOOR_PATH, requestsHex: ctx.requests.apiKeys },
      referenceMs: ctx.knobs.floorMs,
    });
    const vsIntrospect = await measurePaired({
      ...common,
      rounds: Math.max(ctx.knobs.rounds, CHECK_ROUNDS),
      label: `check_vs_introspect${suffix}`,
      subject: { ...service, path: CHECK_PATH, requestsHex: checks },
      reference: { ...service, path: INTROSPECT_PATH, requestsHex: ctx.requests.apiKeys },
      referenceMs: ctx.knobs.caseMs,
    });
    // How much a CheckRequest's size alone costs grpc-js and HTTP/2: the no-op floor answering the
    // Check requests, paired with the same floor answering Introspect's (same fixed answer).
    const floorSizes = await measurePaired({
      ...common,
      label: `check_floor_bytes${suffix}`,
      subject: { channel: "floor", pid: ctx.floor.child.pid!, path: FLOOR_PATH, requestsHex: checks },
      reference: { channel: "floor", pid: ctx.floor.child.pid!, path: FLOOR_PATH, requestsHex: ctx.requests.apiKeys },
      referenceMs: ctx.knobs.caseMs,
    });
    // The control: Introspect against itself, slice by slice on the same service (a copy of the
    // target: the harness keeps each side's totals by target).
    const introspectTarget = { ...service, path: INTROSPECT_PATH, requestsHex: ctx.requests.apiKeys };
    const control = await measurePaired({
      ...common,
      label: `introspect_vs_itself${suffix}`,
      subject: introspectTarget,
      reference: { ...introspectTarget },
      referenceMs: ctx.knobs.caseMs,
    });
    const scatter = roundSummary(control.rounds);
    const sizes = roundSummary(floorSizes.rounds);
    const floor = roundSummary(vsFloor.rounds);
    const introspect = roundSummary(vsIntrospect.rounds);
    const errors =
      vsFloor.subject.errors +
      vsIntrospect.subject.errors +
      vsIntrospect.reference.errors +
      control.subject.errors +
      control.reference.errors;
    const firstError =
      vsFloor.subject.firstError ?? vsIntrospect.subject.firstError ?? vsIntrospect.reference.firstError ?? null;
    const ratio = introspect.cpu_ratio_median ?? NaN;
    const pooled = r3(vsIntrospect.subject.serverCpuMsPerCall / vsIntrospect.reference.serverCpuMsPerCall);
    const row = (name: string, m: typeof vsFloor.subject, s: ReturnType<typeof roundSummary>, vs: string) => [
      name,
      Math.round(m.callsPerSecond),
      r3(m.p50Ms),
      r3(m.p99Ms),
      s.server_cpu_ms_per_call_median,
      vs,
      s.cpu_ratio_median,
      s.cpu_ratio_range?.join("-") ?? null,
    ];
    return {
      result: {
        vs_floor: { ...floor, calls_per_s: r3(vsFloor.subject.callsPerSecond), p50_ms: r3(vsFloor.subject.p50Ms) },
        vs_introspect: {
          ...introspect,
          cpu_ratio_pooled: pooled,
          check_calls_per_s: r3(vsIntrospect.subject.callsPerSecond),
          introspect_calls_per_s: r3(vsIntrospect.reference.callsPerSecond),
        },
        sample_allowed: allowed,
        floor_check_bytes_vs_introspect_bytes: sizes,
        introspect_vs_itself: scatter,
        request_bytes: checks.length ? checks[0]!.length / 2 : null,
        errors,
        first_error: firstError,
        first_answer: vsFloor.subject.firstAnswer ?? null,
        pinned: ctx.pinned,
      },
      table: {
        header: ["check", "calls/s", "p50 ms", "p99 ms", "cpu ms/call", "paired with", "cpu x", "range"],
        rows: [
          row("Check", vsFloor.subject, floor, "floor"),
          row("Check", vsIntrospect.subject, introspect, "Introspect"),
          row("floor, Check bytes", floorSizes.subject, sizes, "floor, Introspect bytes"),
          row("Introspect", control.subject, scatter, "Introspect (control)"),
        ],
      },
      targets: {
        [`check${suffix}`]: {
          met: allowed && errors === 0 && ratio <= TARGET,
          detail: `${allowed ? "" : "REQUESTS NOT ALLOWED: "}Check server CPU per call ${r3(ratio)}x Introspect's (median over ${introspect.rounds} paired rounds, range ${introspect.cpu_ratio_range?.join("-") ?? "n/a"}, pooled ${pooled}; <= ${TARGET}x), errors ${errors}; the floor itself pays ${sizes.cpu_ratio_median ?? "n/a"}x for the CheckRequest's size; Introspect against itself ${scatter.cpu_ratio_median ?? "n/a"}x (range ${scatter.cpu_ratio_range?.join("-") ?? "n/a"})`,
        },
      },
    };
  },
});
