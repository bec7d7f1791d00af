/**
 * How much the bench's paired slices scatter on this machine: the same service measured against
 * itself slice by slice (Introspect/Introspect, Check/Check), the floor against itself, and Check
 * against Introspect, printing each round's server-CPU ratio and both sides' CPU per call. A pair
 * of identical slices should give 1.0; what it gives instead is the noise any paired ratio carries
 * (docs/performance.md, session 34). Usage: `npx tsx bench/tools/pair-scatter.ts` after
 * `npm run bench` built dist/bench once; R (rounds, 9), MS (each slice, 2000), PAIRS (II,CC,FF,CI),
 * SVC_ENV (k=v,k=v extra service environment).
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { IntrospectRequestSchema, IntrospectResponseSchema } from "../../src/gen/warpflow/auth/v1/token_service_pb.js";
import { createGrpcTokenClient } from "../../test/support/grpc-client.js";
import { measurePaired, openChannel, startFloor, startLoadGenerator, startService, stopAll } from "../lib/harness.js";
import { FLOOR_PATH, INTROSPECT_PATH } from "../lib/constants.js";
import { checkRequestHex } from "../cases/check-request.js";
const dir = mkdtempSync(join(tmpdir(), "wf-pair-scatter-"));
const extra: Record<string, string> = Object.fromEntries(
  (process.env.SVC_ENV ?? "")
    .split(",")
    .filter(Boolean)
    .map((kv) => kv.split("=") as [string, string]),
);
const service = await startService(
  { ADMIN_KEY_FILE: join(dir, "ak"), CACHE_TTL_MS: "2000", LAST_USED_FLUSH_MS: "1000", ...extra },
  { logFile: join(dir, "service.log") },
);
const c = createGrpcTokenClient(service.address);
const keys: string[] = [];
for (let i = 0; i < 12; i++)
  keys.push(
    (await c.createKey({ tenantId: `bench-${Math.floor(i / 3)}`, label: "x" }, { bearer: service.adminKey })).token,
  );
const sample = Buffer.from(toBinary(IntrospectResponseSchema, await c.introspect({ token: keys[0]! }))).toString("hex");
c.close();
const loadgen = await startLoadGenerator(join(dir, "lg.log"));
const floor = await startFloor(sample, join(dir, "floor.log"), {});
await openChannel(loadgen, "service", service.address);
await openChannel(loadgen, "floor", floor.address);
const enc = (t: string) =>
  Buffer.from(toBinary(IntrospectRequestSchema, create(IntrospectRequestSchema, { token: t }))).toString("hex");
const svcI = { channel: "service", pid: service.child.pid!, path: INTROSPECT_PATH, requestsHex: keys.map(enc) };
const svcC = {
  channel: "service",
  pid: service.child.pid!,
  path: "/envoy.service.auth.v3.Authorization/Check",
  requestsHex: keys.map(checkRequestHex),
};
const fl = { channel: "floor", pid: floor.child.pid!, path: FLOOR_PATH, requestsHex: keys.map(enc) };
const common = {
  loadgen,
  rounds: Number(process.env.R ?? 9),
  subjectMs: Number(process.env.MS ?? 2000),
  referenceMs: Number(process.env.MS ?? 2000),
  warmupMs: 1000,
  concurrency: 64,
};
const show = (name: string, p: Awaited<ReturnType<typeof measurePaired>>) => {
  const ratios = p.rounds.map((r) => r.subjectCpuMsPerCall / r.referenceCpuMsPerCall);
  const sorted = [...ratios].sort((a, b) => a - b);
  const mid =
    sorted.length % 2
      ? sorted[(sorted.length - 1) / 2]!
      : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2;
  console.log(
    name,
    ratios.map((x) => x.toFixed(3)).join(" "),
    `| median ${mid.toFixed(3)} range ${sorted[0]!.toFixed(3)}-${sorted.at(-1)!.toFixed(3)}`,
    `pooled ${(p.subject.serverCpuMsPerCall / p.reference.serverCpuMsPerCall).toFixed(3)}`,
    "| s",
    p.rounds.map((r) => r.subjectCpuMsPerCall.toFixed(4)).join(" "),
    "| r",
    p.rounds.map((r) => r.referenceCpuMsPerCall.toFixed(4)).join(" "),
  );
};
for (const which of (process.env.PAIRS ?? "II,FF,CI").split(",")) {
  if (which === "II")
    show("svc I/I", await measurePaired({ ...common, label: "ii", subject: svcI, reference: { ...svcI } }));
  if (which === "CC")
    show("svc C/C", await measurePaired({ ...common, label: "cc", subject: svcC, reference: { ...svcC } }));
  if (which === "FF")
    show("floor F/F", await measurePaired({ ...common, label: "ff", subject: fl, reference: { ...fl } }));
  if (which === "CI") show("svc C/I", await measurePaired({ ...common, label: "ci", subject: svcC, reference: svcI }));
}
await stopAll([loadgen, floor.child, service.child]);
console.log("dir", dir);
