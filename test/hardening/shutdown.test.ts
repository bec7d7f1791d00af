import { spawn } from "node:child_process";
import * as net from "node:net";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { IntrospectRequestSchema, IntrospectResponseSchema } from "../../src/gen/warpflow/auth/v1/token_service_pb.js";
import { createGrpcTokenClient } from "../support/grpc-client.js";
import { holdRaw, lengthPrefixed } from "../support/raw-socket.js";
import { repoRoot, spawnService, type ServiceProcess } from "../support/service-process.js";
import { waitUntil, sleep } from "../support/poll.js";
import { h2Request } from "../support/h2-request.js";
import { grpcCodeName } from "../support/codes.js";

/**
 * Whole-process behaviour of `src/main.ts` (a real child process): SIGTERM under load drains
 * in-flight calls, flushes pending last_used_at writes and exits 0 in bounded time; a second
 * signal exits at once; a failing background flush never takes the process down.
 */
const procs: ServiceProcess[] = [];
afterEach(() => {
  for (const p of procs.splice(0)) p.kill();
});
const start = async (env: Record<string, string>) => {
  const p = await spawnService({ env });
  procs.push(p);
  return p;
};
const msgIs = (prefix: string) => (l: Record<string, unknown>) => typeof l.msg === "string" && l.msg.startsWith(prefix);

/** A gRPC Introspect sent by hand over HTTP/2, with the message held back until `finish()`. */
function heldGrpcIntrospect(port: number, token: string) {
  // A forced close at the shutdown timeout is expected: h2Request records it, never throws.
  const call = h2Request(port, {
    ":path": "/warpflow.auth.v1.TokenService/Introspect",
    "content-type": "application/grpc",
    te: "trailers",
  });
  const msg = toBinary(IntrospectRequestSchema, create(IntrospectRequestSchema, { token }));
  const framed = lengthPrefixed(msg);
  call.stream.write(framed.subarray(0, 7)); // the call is open on the server; its message is incomplete
  const done = call.done.then(({ grpcStatus, body }) => ({
    grpcStatus,
    active: body.length >= 5 ? fromBinary(IntrospectResponseSchema, body.subarray(5)).active : undefined,
  }));
  return { finish: () => call.stream.end(framed.subarray(7)), done };
}

/** POST /api/v1/sessions over a raw socket, with the body held back until `finish()`. */
function heldRestSession(port: number, adminKey: string) {
  const body = '{"tenant_id":"acme"}';
  const held = holdRaw(
    port,
    `POST /api/v1/sessions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nAuthorization: Bearer ${adminKey}\r\n` +
      `Content-Length: ${body.length}\r\n\r\n${body.slice(0, 5)}`,
  );
  const { socket } = held;
  const done = held.until((response) => /\r\n\r\n[\s\S]*\}$/.test(response));
  return { finish: () => socket.write(body.slice(5)), done, socket };
}

describe("SIGTERM", () => {
  it("under load: in-flight calls complete, last_used_at is flushed, exit 0 in bounded time", async () => {
    const svc = await start({ LOG_LEVEL: "debug", LAST_USED_FLUSH_MS: "5000", SHUTDOWN_TIMEOUT_MS: "5000" });
    const client = createGrpcTokenClient(`127.0.0.1:${svc.port}`);
    const { token, key } = await client.createKey({ tenantId: "acme", label: "load" }, { bearer: svc.adminKey });

    // Load: 16 workers introspecting in a loop until the process is gone.
    let stop = false;
    const outcomes: Record<string, number> = {};
    const worker = async () => {
      while (!stop) {
        const code = await client
          .introspect({ token }, { deadlineMs: 5000 })
          .then((r) => (r.active ? "OK" : "OK_INACTIVE"), grpcCodeName);
        outcomes[code] = (outcomes[code] ?? 0) + 1;
        if (code !== "OK") await sleep(5);
      }
    };
    const workers = Array.from({ length: 16 }, worker);
    // Under load: at least 100 answered calls before the signal (polled, not a fixed sleep).
    await waitUntil(() => (outcomes.OK ?? 0) >= 100, 20_000, "100 answered calls", 20);
    const grpcHeld = heldGrpcIntrospect(svc.port, token);
    const restHeld = heldRestSession(svc.port, svc.adminKey);
    await sleep(100);
    const okBefore = outcomes.OK ?? 0;

    const signalledAt = Date.now();
    svc.child.kill("SIGTERM");
    await svc.waitForLog(msgIs("shutting down"));
    // New connections are refused at once.
    const refused = await new Promise<boolean>((resolve) => {
      const s = net.connect(svc.port, "127.0.0.1");
      s.on("connect", () => (s.destroy(), resolve(false)));
      s.on("error", () => resolve(true));
    });
    expect(refused).toBe(true);
    // The two calls that were in flight when the signal came finish now, and succeed.
    await sleep(200);
    expect(svc.child.exitCode).toBeNull(); // still draining: it waits for them
    grpcHeld.finish();
    restHeld.finish();
    const [g, rest] = await Promise.all([grpcHeld.done, restHeld.done]);
    expect(g).toEqual({ grpcStatus: "0", active: true });
    expect(rest).toMatch(/^HTTP\/1\.1 200 /);
    expect(rest).toMatch(/"token":"sess_acme_/);

    const exit = await svc.exited;
    stop = true;
    await Promise.all(workers);
    client.close();
    restHeld.socket.destroy();

    expect(exit.code).toBe(0);
    // Drained, not cut off: it exited before SHUTDOWN_TIMEOUT_MS (5 s) would have forced it.
    // (A wall-clock bound, but one the drain misses only by hanging, not by a busy machine.)
    expect(exit.at - signalledAt).toBeLessThan(5000);
    // Every introspection either succeeded (active) or, once the server had stopped taking new
    // calls, was refused as UNAVAILABLE: never INTERNAL, CANCELLED, inactive, or a hang.
    expect(Object.keys(outcomes).filter((c) => c !== "OK" && c !== "UNAVAILABLE")).toEqual([]);
    expect(okBefore).toBeGreaterThan(100);
    // The pending uses were written during shutdown: "shutting down" -> "last_used_at flushed" ->
    // "stopped", by the lines' own timestamps (the next test checks their order in the output).
    const line = (prefix: string) => svc.logs.find(msgIs(prefix));
    const down = line("shutting down");
    const stopped = line("stopped");
    const flushes = svc.logs.filter(
      (l) => msgIs("last_used_at flushed")(l) && (l.time as number) >= (down?.time as number),
    );
    expect(down).toBeDefined();
    expect(stopped).toBeDefined();
    expect(flushes).toHaveLength(1);
    expect(flushes[0]!.keys).toBeGreaterThanOrEqual(1);
    expect(flushes[0]!.time as number).toBeLessThanOrEqual(stopped!.time as number);
    expect(svc.logs.filter((l) => (l.level as number) >= 50)).toEqual([]); // no error/fatal lines
    expect(key?.id).toBeDefined();
  });

  it("when idle: exit 0 without waiting for the drain timeout", async () => {
    const svc = await start({ SHUTDOWN_TIMEOUT_MS: "20000" });
    const at = Date.now();
    svc.child.kill("SIGTERM");
    const exit = await svc.exited;
    expect(exit.code).toBe(0);
    expect(exit.at - at).toBeLessThan(10_000); // nothing to drain: far from the 20 s timeout
    expect(svc.logs.some(msgIs("stopped"))).toBe(true);
  });

  it("an HTTP/1.1 request (REST) in flight at SIGTERM completes before the process exits", async () => {
    const svc = await start({ SHUTDOWN_TIMEOUT_MS: "5000" });
    const held = heldRestSession(svc.port, svc.adminKey);
    await sleep(100);
    svc.child.kill("SIGTERM");
    await svc.waitForLog(msgIs("shutting down"));
    await sleep(200);
    held.finish();
    const response = await held.done;
    held.socket.destroy();
    expect(response).toMatch(/^HTTP\/1\.1 200 /);
    expect((await svc.exited).code).toBe(0);
  });

  it("clients holding incomplete requests on both protocols cannot delay exit past SHUTDOWN_TIMEOUT_MS; uses are flushed; lines in order", async () => {
    // Before the fix, one Connect request with 5 of its 100 body bytes kept a 2 s server alive
    // until the client left (29 s): the HTTP/1.1 server knew no connections to close.
    const svc = await start({ LOG_LEVEL: "debug", LAST_USED_FLUSH_MS: "5000", SHUTDOWN_TIMEOUT_MS: "2000" });
    const client = createGrpcTokenClient(`127.0.0.1:${svc.port}`);
    const { token } = await client.createKey({ tenantId: "acme", label: "held" }, { bearer: svc.adminKey });
    expect((await client.introspect({ token })).active).toBe(true); // a use, pending for 5 s
    client.close();
    const http1 = holdRaw(
      svc.port,
      'POST /warpflow.auth.v1.TokenService/Introspect HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"tok',
    ).socket;
    const connectH2 = h2Request(svc.port, {
      ":path": "/warpflow.auth.v1.TokenService/Introspect",
      "content-type": "application/json",
    });
    connectH2.stream.write('{"tok');
    const grpcHeld = heldGrpcIntrospect(svc.port, token);
    await sleep(200);
    const at = Date.now();
    svc.child.kill("SIGTERM");
    const exit = await svc.exited;
    http1.destroy();
    connectH2.session.destroy();
    expect(exit.code).toBe(0);
    expect(exit.at - at).toBeLessThan(2000 + 1500);
    expect(exit.at - at).toBeGreaterThanOrEqual(1900); // it did wait for them, up to the timeout
    await grpcHeld.done;
    const index = (prefix: string) => svc.logs.findIndex(msgIs(prefix));
    const down = index("shutting down");
    const flushed = svc.logs.findIndex((l, i) => i > down && msgIs("last_used_at flushed")(l));
    expect(down).toBeGreaterThanOrEqual(0);
    expect(flushed).toBeGreaterThan(down);
    expect(svc.logs[flushed]!.keys).toBeGreaterThanOrEqual(1);
    const sequence = svc.logs.map((l) => `${String(l.time)} ${String(l.msg)}`).join("\n");
    expect(index("stopped"), sequence).toBeGreaterThan(flushed); // written in the order they happened
  });

  it("a second signal during a slow drain exits at once (code 1)", async () => {
    const svc = await start({ SHUTDOWN_TIMEOUT_MS: "20000" });
    const _held = heldGrpcIntrospect(svc.port, "wf_acme_x"); // keeps the drain waiting
    await sleep(100);
    svc.child.kill("SIGTERM");
    await svc.waitForLog(msgIs("shutting down"));
    await sleep(300);
    expect(svc.child.exitCode).toBeNull(); // draining
    const at = Date.now();
    svc.child.kill("SIGINT");
    const exit = await svc.exited;
    expect(exit.code).toBe(1);
    expect(exit.at - at).toBeLessThan(10_000); // at once, not after the 20 s drain
    expect(svc.logs.some(msgIs("second signal"))).toBe(true);
    expect(svc.logs.some(msgIs("stopped"))).toBe(false);
  });
});

describe("background failures do not take the process down", () => {
  it("a failed last_used_at flush (store down) is logged and retried, not an unhandled rejection", async () => {
    // Node exits on an unhandled rejection; the recorder's timer flush is fire-and-forget.
    const script = `
      import { createLastUsedRecorder } from "./src/domain/last-used-recorder.ts";
      let calls = 0;
      const r = createLastUsedRecorder({ recordKeyUses: async () => { calls++; throw new Error("store down"); } }, { flushIntervalMs: 20 });
      r.record("key_x", new Date());
      setTimeout(async () => { await r.close(); console.log(JSON.stringify({ alive: true, calls, pending: Boolean(r.pending("key_x")) })); }, 300);
    `;
    const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
    expect(err).toBe("");
    expect(code).toBe(0);
    const result = JSON.parse(out.trim()) as { alive: boolean; calls: number; pending: boolean };
    expect(result.alive).toBe(true);
    expect(result.calls).toBeGreaterThan(3); // retried on every tick
    expect(result.pending).toBe(true); // the use is kept for the next flush, not lost
  });
});
