/**
 * The load generator: its own process (so its CPU is not the server's), one @grpc/grpc-js channel,
 * a fixed number of calls in flight. Requests are encoded once up front and responses are not
 * decoded (only the first one, for a sanity check), so the client spends as little as it can.
 *
 * IPC: start {address, path, requestsHex, concurrency} -> keeps calls going;
 *      mark -> resets the counters (end of warm-up); stop -> stops, answers the measured figures;
 *      flood {address, path, count, tenantId, concurrency} -> sends `count` distinct unknown (well
 *      formed, valid checksum) API keys once each.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { generateToken } from "../src/domain/token-format.js";
import { IntrospectRequestSchema } from "../src/gen/warpflow/auth/v1/token_service_pb.js";

const send = (msg: Record<string, unknown>) => process.send!(msg);
const identity = (b: Buffer) => b;

interface Run {
  client: grpc.Client;
  running: boolean;
  inFlight: number;
  calls: number;
  errors: number;
  errorCodes: Record<string, number>;
  latencies: Float64Array;
  n: number;
  markedAt: number;
  firstResponseHex?: string;
  idle?: () => void;
}

let current: Run | undefined;

function startRun(msg: { address: string; path: string; requestsHex: string[]; concurrency: number }): Promise<Run> {
  const requests = msg.requestsHex.map((h) => Buffer.from(h, "hex"));
  const client = new grpc.Client(msg.address, grpc.credentials.createInsecure());
  const run: Run = {
    client,
    running: true,
    inFlight: 0,
    calls: 0,
    errors: 0,
    errorCodes: {},
    latencies: new Float64Array(1 << 21),
    n: 0,
    markedAt: performance.now(),
  };
  let next = 0;
  return new Promise((resolve, reject) => {
    const issue = () => {
      const req = requests[next++ % requests.length]!;
      const t0 = performance.now();
      run.inFlight++;
      client.makeUnaryRequest(msg.path, identity, identity, req, (err, res) => {
        run.inFlight--;
        if (err) {
          run.errors++;
          run.errorCodes[grpc.status[err.code] ?? err.code] = (run.errorCodes[grpc.status[err.code] ?? err.code] ?? 0) + 1;
          if (run.firstResponseHex === undefined) {
            run.running = false;
            reject(new Error(`first call failed: ${err.code} ${err.details}`));
          }
        } else {
          if (run.firstResponseHex === undefined) {
            run.firstResponseHex = (res as Buffer).toString("hex");
            resolve(run);
          }
          run.calls++;
          if (run.n < run.latencies.length) run.latencies[run.n++] = performance.now() - t0;
        }
        if (run.running) issue();
        else if (run.inFlight === 0) run.idle?.();
      });
    };
    for (let i = 0; i < msg.concurrency; i++) issue();
  });
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

async function stopRun(run: Run) {
  const elapsedMs = performance.now() - run.markedAt;
  const calls = run.calls;
  const lat = run.latencies.slice(0, run.n).sort();
  run.running = false;
  if (run.inFlight > 0) await new Promise<void>((r) => (run.idle = r));
  run.client.close();
  let total = 0;
  for (const v of lat) total += v;
  return {
    calls,
    errors: run.errors,
    errorCodes: run.errorCodes,
    seconds: elapsedMs / 1000,
    callsPerSecond: calls / (elapsedMs / 1000),
    p50Ms: percentile(lat, 50),
    p99Ms: percentile(lat, 99),
    meanMs: total / lat.length,
  };
}

async function flood(msg: { address: string; path: string; count: number; tenantId: string; concurrency: number }) {
  const client = new grpc.Client(msg.address, grpc.credentials.createInsecure());
  const started = performance.now();
  let sent = 0;
  let done = 0;
  let errors = 0;
  let notFound = 0;
  await new Promise<void>((resolve) => {
    const issue = () => {
      if (sent >= msg.count) {
        if (done === msg.count) resolve();
        return;
      }
      sent++;
      const token = generateToken("api_key", msg.tenantId);
      const req = Buffer.from(toBinary(IntrospectRequestSchema, create(IntrospectRequestSchema, { token })));
      client.makeUnaryRequest(msg.path, identity, identity, req, (err, res) => {
        done++;
        if (err) errors++;
        // active=false, inactive_reason=NOT_FOUND(2): field 9 varint -> bytes 0x48 0x02.
        else if ((res as Buffer).includes(Buffer.from([0x48, 0x02]))) notFound++;
        issue();
      });
    };
    for (let i = 0; i < msg.concurrency; i++) issue();
  });
  client.close();
  return { calls: done, errors, notFound, seconds: (performance.now() - started) / 1000 };
}

process.on("message", async (m: { type: string } & Record<string, unknown>) => {
  try {
    switch (m.type) {
      case "start":
        current = await startRun(m as never);
        send({ type: "start:done", firstResponseHex: current.firstResponseHex });
        break;
      case "mark":
        current!.calls = 0;
        current!.errors = 0;
        current!.errorCodes = {};
        current!.n = 0;
        current!.markedAt = performance.now();
        send({ type: "mark:done" });
        break;
      case "stop":
        send({ type: "stop:done", ...(await stopRun(current!)) });
        current = undefined;
        break;
      case "flood":
        send({ type: "flood:done", ...(await flood(m as never)) });
        break;
      case "shutdown":
        process.exit(0);
    }
  } catch (err) {
    send({ type: "error", message: err instanceof Error ? err.message : String(err) });
  }
});
process.on("disconnect", () => process.exit(0));
send({ type: "ready" });
