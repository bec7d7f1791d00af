/**
 * In-process cost of each step of the Introspect hot path (ns per op), to decide what is worth
 * optimizing and to check each change. Not part of `npm run bench` (which measures the real
 * service over gRPC). Usage: tsx bench/tools/hot-path-micro.ts (output kept in bench/results/).
 */
import { createHash, hash as cryptoHash } from "node:crypto";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { createMemoryTokenStore } from "../../src/adapters/memory/memory-token-store.js";
import { createIntrospector } from "../../src/domain/introspector.js";
import { createLastUsedRecorder } from "../../src/domain/last-used-recorder.js";
import { createTokenCache } from "../../src/domain/token-cache.js";
import { generateToken, parseToken } from "../../src/domain/token-format.js";
import { hashToken } from "../../src/domain/token-hash.js";
import { IntrospectRequestSchema, IntrospectResponseSchema } from "../../src/gen/warpflow/auth/v1/token_service_pb.js";
import { disabledJwtVerifier } from "../../src/ports/jwt-verifier.js";
import { systemClock } from "../../src/ports/clock.js";
import { createMetrics } from "../../src/observability/metrics.js";
import { fastCodecs, type FastCodec } from "../../src/transport/grpc/introspect-codec.js";
import { toIntrospectResponse } from "../../src/service/proto-mapping.js";
import { createCallObserver } from "../../src/transport/protocol/call-observer.js";
import { writeResult } from "../lib/results.js";
import { pino } from "pino";

/** Every figure of this run, kept in bench/results/<name>.json (default hot-path-micro-<UTC time>). */
const measured: { name: string; ns_per_op: number; ops: number }[] = [];

async function bench(name: string, fn: () => unknown, n = 200_000): Promise<void> {
  for (let i = 0; i < n / 10; i++) await fn();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await fn();
  const ns = Number(process.hrtime.bigint() - t0) / n;
  console.log(`${ns.toFixed(0).padStart(7)} ns  ${name}`);
  measured.push({ name, ns_per_op: Math.round(ns), ops: n });
}

const syncBench = (name: string, fn: () => unknown, n = 500_000) => {
  for (let i = 0; i < n / 10; i++) fn();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn();
  const ns = Number(process.hrtime.bigint() - t0) / n;
  console.log(`${ns.toFixed(0).padStart(7)} ns  ${name}`);
  measured.push({ name, ns_per_op: Math.round(ns), ops: n });
};

const token = generateToken("api_key", "bench-0");
const metrics = createMetrics();
const store = createMemoryTokenStore();
const cache = createTokenCache({});
const lastUsed = createLastUsedRecorder(store, {});
const introspector = createIntrospector({
  store,
  clock: systemClock,
  cache,
  lastUsed,
  jwt: disabledJwtVerifier,
  observe: {
    cache: (type, hit) => metrics.cacheLookups.labels(type, hit ? "hit" : "miss").inc(),
    storeRead: () => metrics.storeReads.inc(),
  },
});
const bare = createIntrospector({ store, clock: systemClock, cache, lastUsed, jwt: disabledJwtVerifier });
await store.insertKey(
  {
    id: "key_abcdefghij0123456789",
    tenantId: "bench-0",
    label: "x",
    tokenHash: hashToken(token),
    hint: "h",
    status: "active",
    createdAt: new Date(),
    createdBy: "b",
  },
  3,
);
const reqBytes = toBinary(IntrospectRequestSchema, create(IntrospectRequestSchema, { token }));
const result = await introspector.introspect(token);
const resMsg = toIntrospectResponse(result);
const hist = metrics.rpcDuration.labels("Introspect", "ok");
const counter = metrics.introspections.labels("active");

syncBench("parseToken", () => parseToken(token));
syncBench("hashToken (current)", () => hashToken(token));
syncBench("createHash sha256 base64url", () => createHash("sha256").update(token, "utf8").digest("base64url"));
syncBench("crypto.hash sha256 base64url", () => cryptoHash("sha256", token, "base64url"));
syncBench("fromBinary IntrospectRequest", () => fromBinary(IntrospectRequestSchema, reqBytes));
syncBench("toIntrospectResponse (active)", () => toIntrospectResponse(result));
syncBench("toBinary IntrospectResponse", () => toBinary(IntrospectResponseSchema, resMsg));
const fastReq = fastCodecs.get(IntrospectRequestSchema.typeName) as FastCodec<unknown>;
const fastRes = fastCodecs.get(IntrospectResponseSchema.typeName) as FastCodec<unknown>;
const reqBuf = Buffer.from(reqBytes);
syncBench("fast decode IntrospectRequest", () => fastReq.decode!(reqBuf));
syncBench("fast encode IntrospectResponse", () => fastRes.encode!(resMsg));
syncBench("histogram child observe", () => hist.observe(0.001));
syncBench("counter child inc", () => counter.inc());
syncBench("counter labels(a,b).inc", () => metrics.cacheLookups.labels("api_key", "hit").inc());
syncBench("process.hrtime.bigint x2", () => process.hrtime.bigint() - process.hrtime.bigint());
// The fast path's call end: per method resolved once (okRecorder) vs per call (endOk), alternated.
const observer = createCallObserver(
  pino({ level: "info" }, { write: () => undefined }),
  metrics,
  new Set(["Introspect"]),
);
const recordOk = observer.okRecorder!("Introspect");
for (let i = 0; i < 2; i++) {
  syncBench("observer endOk(Introspect) (per-call lookups)", () => observer.endOk!("Introspect", 0.00004), 2_000_000);
  syncBench("observer okRecorder(Introspect) (resolved once)", () => recordOk(0.00004), 2_000_000);
}
syncBench("cache.get", () => cache.get("nope"));
syncBench("lastUsed.record", () => lastUsed.record("key_abcdefghij0123456789", new Date()));
await bench("introspect (with metrics hooks)", () => introspector.introspect(token));
await bench("introspect (no hooks)", () => bare.introspect(token));
await lastUsed.close();
writeResult("hot-path-micro", measured);
