/**
 * In-process cost of Check's server path against Introspect's (ns per call), as grpc-server.ts
 * runs them on a cached token: the method's requestDeserialize (the hand decoders), the handler's
 * fast path, the kept response bytes, the call observer. grpc-js and HTTP/2 are not in it (the
 * bench measures those). Steps of Check are timed apart too. Rounds alternate the two methods.
 * Usage: tsx bench/tools/check-path-micro.ts (output kept in bench/results/, or BENCH_RESULT_NAME).
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { pino } from "pino";
import { createMemoryTokenStore } from "../../src/adapters/memory/memory-token-store.js";
import { createIntrospector } from "../../src/domain/introspector.js";
import { createKeyService } from "../../src/domain/key-service.js";
import { createLastUsedRecorder } from "../../src/domain/last-used-recorder.js";
import { createSessionService } from "../../src/domain/session-service.js";
import { createTokenCache } from "../../src/domain/token-cache.js";
import { Authorization, CheckRequestSchema } from "../../src/gen/envoy/service/auth/v3/external_auth_pb.js";
import { IntrospectRequestSchema, TokenService } from "../../src/gen/warpflow/auth/v1/token_service_pb.js";
import { createMetrics } from "../../src/observability/metrics.js";
import { systemClock } from "../../src/ports/clock.js";
import { disabledJwtVerifier } from "../../src/ports/jwt-verifier.js";
import { checkInputOf } from "../../src/service/check-input.js";
import { createAuthorizationHandlers } from "../../src/service/ext-authz-handlers.js";
import { createTokenServiceHandlers } from "../../src/service/token-service-handlers.js";
import { addProtobufService } from "../../src/transport/grpc/grpc-server.js";
import { checkCodecs } from "../../src/transport/grpc/check-codec.js";
import { createCallObserver } from "../../src/transport/protocol/call-observer.js";
import { FAST_UNARY, type FastUnary, type WithFastUnary } from "../../src/transport/protocol/unary-handlers.js";
import { writeResult } from "../lib/results.js";
import { checkRequestBytes } from "../cases/check-request.js";
/** CPU time (user + system) of this process since c0, in ns: time spent descheduled on a busy machine is not in it. */
const cpuNs = (c0: NodeJS.CpuUsage) => {
  const d = process.cpuUsage(c0);
  return (d.user + d.system) * 1000;
};

const measured: { name: string; ns_per_op: number; ops: number; round: number }[] = [];
const ROUNDS = Number(process.env.MICRO_ROUNDS ?? 5);
const N = Number(process.env.MICRO_OPS ?? 300_000);

const metrics = createMetrics();
const store = createMemoryTokenStore();
const cache = createTokenCache({ ttlMs: 3_600_000 });
const lastUsed = createLastUsedRecorder(store, { flushIntervalMs: 3_600_000 });
const introspector = createIntrospector({ store, clock: systemClock, cache, lastUsed, jwt: disabledJwtVerifier });
const sessions = createSessionService({ store, clock: systemClock, cache });
const keys = createKeyService({ store, clock: systemClock, cache, lastUsed, sessions });
const tokens: string[] = [];
for (let i = 0; i < 10; i++) tokens.push((await keys.create(`bench-${i % 4}`, `k${i}`, "bench")).token);
for (const t of tokens) await introspector.introspect(t); // cached: the fast paths answer

const byResult = (label: string) => metrics.introspections.labels(label);
const tokenService = createTokenServiceHandlers({
  introspector,
  admin: { audit: {} } as never /* introspect only: no admin call runs */,
  onIntrospection: (r) => byResult(r.active ? "active" : r.reason).inc(),
});
const authorization = createAuthorizationHandlers({ tokenService });
const observer = createCallObserver(
  pino({ level: "info" }, { write: () => undefined }),
  metrics,
  new Set(["Introspect", "Check"]),
);

/** The method table grpc-server.ts gives grpc-js, captured from a stand-in server. */
type Impl = (call: { request: unknown }, cb: (err: unknown, res: unknown) => void) => void;
const served = new Map<string, { deserialize: (b: Buffer) => unknown; impl: Impl }>();
const fakeServer = {
  addService(def: Record<string, { requestDeserialize: (b: Buffer) => unknown }>, impl: Record<string, Impl>) {
    for (const k of Object.keys(def)) served.set(k, { deserialize: def[k]!.requestDeserialize, impl: impl[k]! });
  },
};
addProtobufService(fakeServer as never, TokenService, tokenService, observer);
addProtobufService(fakeServer as never, Authorization, authorization, observer);

const introspectReqs = tokens.map((token) =>
  Buffer.from(toBinary(IntrospectRequestSchema, create(IntrospectRequestSchema, { token }))),
);
const checkReqs = tokens.map((t, i) => Buffer.from(checkRequestBytes(t, i)));
let responseBytes = 0;
const sink = (err: unknown, res: unknown) => {
  if (err) throw new Error("call failed");
  responseBytes = (res as Buffer).length;
};

/** One call as grpc-js makes it: deserialize the bytes, run the implementation, take the answer. */
function caller(name: string, reqs: Buffer[]): () => void {
  const m = served.get(name)!;
  let i = 0;
  return () => {
    const request = m.deserialize(reqs[i++ % reqs.length]!);
    m.impl({ request }, sink);
  };
}

function syncBench(name: string, fn: () => unknown, round: number): void {
  for (let i = 0; i < N / 10; i++) fn();
  const c0 = process.cpuUsage();
  for (let i = 0; i < N; i++) fn();
  const ns = cpuNs(c0) / N;
  console.log(`${ns.toFixed(0).padStart(7)} ns  ${name}`);
  measured.push({ name, ns_per_op: Math.round(ns), ops: N, round });
}

const introspectCall = caller("introspect", introspectReqs);
const checkCall = caller("check", checkReqs);
checkCall();
const checkResponseBytes = responseBytes;
introspectCall();
const introspectResponseBytes = responseBytes;
const checkDecode = checkCodecs.get(CheckRequestSchema.typeName)!.decode!;
const decoded = checkReqs.map((b) => checkDecode(b) as never);
const fastCheck = (authorization as WithFastUnary)[FAST_UNARY]!.check as FastUnary;
let k = 0;
for (let round = 1; round <= ROUNDS; round++) {
  syncBench("Introspect call (decode, fast path, kept bytes, observer)", introspectCall, round);
  syncBench("Check call (decode, fast path, kept bytes, observer)", checkCall, round);
  syncBench("Check step: decode (hand decoder)", () => checkDecode(checkReqs[k++ % 10]!), round);
  syncBench("Check step: checkInputOf", () => checkInputOf(decoded[k++ % 10]!), round);
  syncBench(
    "Check step: fast answer (input, question, introspect, reuse)",
    () => fastCheck.answer(decoded[k++ % 10]!),
    round,
  );
}
/**
 * Bytes allocated per call: heap growth over calls made with no GC in between, which needs
 * `node --expose-gc --max-semi-space-size=256` (else skipped: a scavenge would hide the growth).
 */
const gc = (globalThis as { gc?: () => void }).gc;
function allocBench(name: string, fn: () => unknown, n = 20_000): void {
  if (!gc) return;
  gc();
  const h0 = process.memoryUsage().heapUsed;
  for (let i = 0; i < n; i++) fn();
  const per = (process.memoryUsage().heapUsed - h0) / n;
  console.log(`${per.toFixed(0).padStart(7)} B   ${name}`);
  measured.push({ name: `bytes allocated: ${name}`, ns_per_op: Math.round(per), ops: n, round: 0 });
}
allocBench("Introspect call", introspectCall);
allocBench("Check call", checkCall);
allocBench("Check step: decode", () => checkDecode(checkReqs[k++ % 10]!));
allocBench("Check step: fast answer", () => fastCheck.answer(decoded[k++ % 10]!));
syncBench(
  "reference: protobuf-es fromBinary CheckRequest",
  () => fromBinary(CheckRequestSchema, checkReqs[k++ % 10]!),
  0,
);
const median = (name: string) => {
  const v = measured
    .filter((m) => m.name === name)
    .map((m) => m.ns_per_op)
    .sort((a, b) => a - b);
  return v[Math.floor(v.length / 2)]!;
};
const ic = median("Introspect call (decode, fast path, kept bytes, observer)");
const cc = median("Check call (decode, fast path, kept bytes, observer)");
console.log(
  `median of ${ROUNDS} rounds: Introspect ${ic} ns, Check ${cc} ns, difference ${cc - ic} ns per call; ` +
    `request ${introspectReqs[0]!.length} vs ${checkReqs[0]!.length} bytes, response ${introspectResponseBytes} vs ${checkResponseBytes} bytes`,
);
measured.push({
  name: "request bytes (Introspect, Check)",
  ns_per_op: introspectReqs[0]!.length,
  ops: checkReqs[0]!.length,
  round: 0,
});
measured.push({
  name: "response bytes (Introspect, Check)",
  ns_per_op: introspectResponseBytes,
  ops: checkResponseBytes,
  round: 0,
});
await lastUsed.close();
writeResult("check-path-micro", measured);
