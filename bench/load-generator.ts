/**
 * The load generator: its own process (so its CPU is not the server's), one @grpc/grpc-js channel
 * per target, a fixed number of calls in flight. Requests are encoded once up front and responses
 * are not decoded (the bench decodes the first one of each run, as a sanity check), so the client
 * spends as little as it can.
 *
 * IPC (each answered with "<type>:done"):
 *   open {name, address, connections?}             a channel (connected before answering); with
 *                                                  `connections` N > 1, N channels of one
 *                                                  connection each, calls spread round-robin
 *   openHttp {name, port, concurrency}             an HTTP/1.1 keep-alive channel (node:http Agent):
 *                                                  a run on it sends `GET path` with
 *                                                  `authorization: Bearer <request>` (requestsHex
 *                                                  holds the tokens); any answer but 200 is an error
 *   run {name, path, requestsHex, ms, concurrency, collect?}
 *                                                  keeps `concurrency` calls in flight for `ms`,
 *                                                  then lets them finish; answers counts; with
 *                                                  `collect`, keeps the latencies under that name
 *   latency {collect}                              p50/p99/mean of what was collected
 *   flood {name, path, count, tenantId, concurrency}
 *                                                  `count` distinct unknown API keys (well formed,
 *                                                  valid checksum), each sent once
 */
import { create, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import * as http from "node:http";
import { generateToken } from "../src/domain/token-format.js";
import { IntrospectRequestSchema } from "../src/gen/warpflow/auth/v1/token_service_pb.js";

const send = (msg: Record<string, unknown>) => process.send!(msg);
const identity = (b: Buffer) => b;
const channels = new Map<string, grpc.Client[]>();
const httpChannels = new Map<string, { port: number; agent: http.Agent }>();
const collected = new Map<string, number[]>();

function channel(name: string): grpc.Client[] {
  const c = channels.get(name);
  if (!c) throw new Error(`no channel ${name}`);
  return c;
}

function openHttp(msg: { name: string; port: number; concurrency: number }) {
  httpChannels.set(msg.name, {
    port: msg.port,
    agent: new http.Agent({ keepAlive: true, maxSockets: msg.concurrency, maxFreeSockets: msg.concurrency }),
  });
}

/** Unary calls over HTTP/1.1 keep-alive: one request in flight per connection, `concurrency` connections. */
function unaryHttp(
  name: string,
): (path: string, request: Buffer, done: (err: string | undefined, firstAnswer: string) => void) => void {
  const { port, agent } = httpChannels.get(name)!;
  return (path, request, done) => {
    const req = http.request(
      {
        host: "127.0.0.1",
        port,
        path,
        method: "GET",
        agent,
        headers: { authorization: `Bearer ${request.toString("latin1")}` },
      },
      (res) => {
        res.resume();
        res.on("end", () => {
          const status = res.statusCode ?? 0;
          done(
            status === 200 ? undefined : `HTTP ${status}`,
            `HTTP ${status} tenant=${String(res.headers["x-warpflow-tenant-id"] ?? "")}`,
          );
        });
      },
    );
    req.on("error", (err) => done(err.message, ""));
    req.end();
  };
}

async function open(msg: { name: string; address: string; connections?: number }) {
  const n = msg.connections ?? 1;
  // A local subchannel pool per client: each one opens its own connection (grpc-js would otherwise
  // share one subchannel, so one connection, between clients of the same target).
  const options = n > 1 ? { "grpc.use_local_subchannel_pool": 1 } : {};
  const clients = Array.from(
    { length: n },
    () => new grpc.Client(msg.address, grpc.credentials.createInsecure(), options),
  );
  await Promise.all(
    clients.map(
      (client) =>
        new Promise<void>((resolve, reject) =>
          client.waitForReady(Date.now() + 30_000, (err) => (err ? reject(err) : resolve())),
        ),
    ),
  );
  channels.set(msg.name, clients);
}

function run(msg: {
  name: string;
  path: string;
  requestsHex: string[];
  ms: number;
  concurrency: number;
  collect?: string;
}) {
  const overHttp = httpChannels.has(msg.name) ? unaryHttp(msg.name) : undefined;
  const clients = overHttp ? undefined : channel(msg.name);
  let turn = 0;
  const requests = msg.requestsHex.map((h) => Buffer.from(h, "hex"));
  const sink = msg.collect
    ? (collected.get(msg.collect) ?? collected.set(msg.collect, []).get(msg.collect)!)
    : undefined;
  const errorCodes: Record<string, number> = {};
  let next = 0;
  let inFlight = 0;
  let calls = 0;
  let errors = 0;
  let running = true;
  let firstResponseHex: string | undefined;
  let firstAnswer: string | undefined;
  let firstError: string | undefined;
  const started = performance.now();
  return new Promise<Record<string, unknown>>((resolve) => {
    const finish = () =>
      resolve({
        calls,
        errors,
        errorCodes,
        firstResponseHex,
        firstAnswer,
        firstError,
        seconds: (performance.now() - started) / 1000,
      });
    const issue = () => {
      const req = requests[next++ % requests.length]!;
      const t0 = performance.now();
      inFlight++;
      if (overHttp) {
        overHttp(msg.path, req, (err, answer) => {
          inFlight--;
          if (err) {
            errors++;
            errorCodes[err] = (errorCodes[err] ?? 0) + 1;
            firstError ??= err;
          } else {
            calls++;
            sink?.push(performance.now() - t0);
          }
          firstAnswer ??= answer;
          if (running) issue();
          else if (inFlight === 0) finish();
        });
        return;
      }
      const client = clients!.length === 1 ? clients![0]! : clients![turn++ % clients!.length]!;
      client.makeUnaryRequest(msg.path, identity, identity, req, (err, res) => {
        inFlight--;
        if (err) {
          errors++;
          const code = grpc.status[err.code] ?? String(err.code);
          errorCodes[code] = (errorCodes[code] ?? 0) + 1;
          firstError ??= `${code}: ${err.details}`;
        } else {
          calls++;
          firstResponseHex ??= (res as Buffer).toString("hex");
          sink?.push(performance.now() - t0);
        }
        if (running) issue();
        else if (inFlight === 0) finish();
      });
    };
    for (let i = 0; i < msg.concurrency; i++) issue();
    setTimeout(() => (running = false), msg.ms);
  });
}

function latency(msg: { collect: string }) {
  const values = Float64Array.from(collected.get(msg.collect) ?? []).sort();
  collected.delete(msg.collect);
  const at = (p: number) =>
    values.length ? values[Math.min(values.length - 1, Math.floor((values.length * p) / 100))]! : NaN;
  let total = 0;
  for (const v of values) total += v;
  return { n: values.length, p50Ms: at(50), p99Ms: at(99), meanMs: total / values.length };
}

async function flood(msg: { name: string; path: string; count: number; tenantId: string; concurrency: number }) {
  const client = channel(msg.name)[0]!;
  const started = performance.now();
  const notFoundBytes = Buffer.from([0x48, 0x02]); // inactive_reason (field 9) = NOT_FOUND (2)
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
        else if ((res as Buffer).includes(notFoundBytes)) notFound++;
        issue();
      });
    };
    for (let i = 0; i < msg.concurrency; i++) issue();
  });
  return { calls: done, errors, notFound, seconds: (performance.now() - started) / 1000 };
}

const onMessage = async (m: { type: string } & Record<string, unknown>) => {
  try {
    switch (m.type) {
      case "open":
        await open(m as never);
        send({ type: "open:done" });
        break;
      case "openHttp":
        openHttp(m as never);
        send({ type: "openHttp:done" });
        break;
      case "run":
        send({ type: "run:done", ...(await run(m as never)) });
        break;
      case "latency":
        send({ type: "latency:done", ...latency(m as never) });
        break;
      case "flood":
        send({ type: "flood:done", ...(await flood(m as never)) });
        break;
      case "shutdown":
        for (const cs of channels.values()) for (const c of cs) c.close();
        for (const c of httpChannels.values()) c.agent.destroy();
        process.exit(0);
    }
  } catch (err) {
    send({ type: "error", message: err instanceof Error ? err.message : String(err) });
  }
};
process.on("message", (m: { type: string } & Record<string, unknown>) => void onMessage(m));
process.on("disconnect", () => process.exit(0));
send({ type: "ready" });
