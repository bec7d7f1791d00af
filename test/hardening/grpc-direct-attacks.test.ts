import * as http2 from "node:http2";
import { gzipSync } from "node:zlib";
import { create, toBinary } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CheckRequestSchema } from "../../src/gen/envoy/service/auth/v3/external_auth_pb.js";
import { IntrospectRequestSchema } from "../../src/gen/warpflow/auth/v1/token_service_pb.js";
import { createGrpcTokenClient } from "../support/grpc-client.js";
import { h2Request } from "../support/h2-request.js";
import { h2Attack, rssGrowth } from "../support/h2-attack.js";
import { H2, h2Frame, lengthPrefixed } from "../support/raw-socket.js";
import { pollUntil, sleep } from "../support/poll.js";
import { readyz } from "../support/probes.js";
import { spawnService, type ServiceProcess } from "../support/service-process.js";
import { connectFrom } from "../support/stream-flood.js";

/**
 * Attacks on the methods served directly on the HTTP/2 stream (Introspect and Check,
 * src/transport/grpc/direct/), against the real process (RSS from /proc): a compressed request
 * that inflates past MAX_BODY_BYTES, half-sent requests, RST floods, streams that never read
 * their answers, and what comes back or reaches the logs.
 */
const REQUEST_MS = 1500;
const PER_ADDRESS = 8;
const INTROSPECT = "/warpflow.auth.v1.TokenService/Introspect";
const CHECK = "/envoy.service.auth.v3.Authorization/Check";
let svc: ServiceProcess;
let token: string;
beforeAll(async () => {
  svc = await spawnService({
    env: {
      HTTP_REQUEST_TIMEOUT_MS: String(REQUEST_MS),
      HTTP_HEADERS_TIMEOUT_MS: "1000",
      MAX_CONNECTIONS_PER_ADDRESS: String(PER_ADDRESS),
      LOG_LEVEL: "debug",
    },
  });
  const admin = createGrpcTokenClient(`127.0.0.1:${svc.port}`);
  token = (await admin.createKey({ tenantId: "acme", label: "attacks" }, { bearer: svc.adminKey })).token;
  admin.close();
}, 30_000);
afterAll(() => svc?.kill());

const introspect = (t: string) => toBinary(IntrospectRequestSchema, create(IntrospectRequestSchema, { token: t }));
const GRPC = { "content-type": "application/grpc", te: "trailers" };

async function stillAnswers(): Promise<void> {
  const client = createGrpcTokenClient(`127.0.0.1:${svc.port}`, undefined, { "grpc.use_local_subchannel_pool": 1 });
  try {
    expect((await client.introspect({ token }, { deadlineMs: 3000 })).active).toBe(true);
  } finally {
    client.close();
  }
  expect((await readyz(svc.port)).status).toBe(200);
}

describe("directly served gRPC methods under attack", () => {
  it("zip bombs: 40 requests (8 at a time) of 60 KB gzip that would inflate to 60 MB each are refused; RSS grows < 64 MiB", async () => {
    const bomb = lengthPrefixed(gzipSync(Buffer.alloc(60 << 20)), 1);
    expect(bomb.length).toBeLessThan(65_536);
    const answers: { status?: string; message?: string }[] = [];
    const growth = await rssGrowth(svc.pid, async () => {
      const session = http2.connect(`http://127.0.0.1:${svc.port}`);
      session.on("error", () => {});
      // 8 at a time: MAX_CONNECTIONS_PER_ADDRESS streams still sending per address (the rest would be refused).
      for (let round = 0; round < 5; round++) {
        const done = Array.from({ length: PER_ADDRESS }, (_, i) =>
          h2Request(session, { ":path": i % 2 ? CHECK : INTROSPECT, ...GRPC, "grpc-encoding": "gzip" }, bomb).done.then(
            (a) => void answers.push({ status: a.grpcStatus, message: a.headers["grpc-message"] as string }),
          ),
        );
        await Promise.all(done);
      }
      session.close();
    });
    expect(growth).toBeLessThan(64); // inflated whole: 60 MB each, 480 MB at a time
    expect(answers).toHaveLength(40);
    for (const a of answers)
      expect(a).toEqual({
        status: "8",
        message: "Received%20message%20that%20decompresses%20to%20a%20size%20larger%20than%2065536",
      });
    await stillAnswers();
  }, 60_000);

  it("a half-sent request on a direct path is reset after HTTP_REQUEST_TIMEOUT_MS; past the per-address bound, REFUSED_STREAM", async () => {
    const sessions = Array.from({ length: 2 }, () => connectFrom(svc.port));
    const codes: (number | undefined)[] = [];
    const closed: Promise<void>[] = [];
    const started = Date.now();
    for (let i = 0; i < 12; i++) {
      const s = sessions[i % 2]!.request({ ":method": "POST", ":path": i % 2 ? CHECK : INTROSPECT, ...GRPC });
      s.on("error", () => {});
      s.write(lengthPrefixed(introspect(token)).subarray(0, 9)); // the frame's start only
      closed.push(new Promise((r) => s.on("close", () => r(void codes.push(s.rstCode)))));
    }
    await Promise.all(closed);
    const elapsed = Date.now() - started;
    for (const s of sessions) s.destroy();
    expect(codes.filter((c) => c === http2.constants.NGHTTP2_REFUSED_STREAM)).toHaveLength(12 - PER_ADDRESS);
    expect(codes.filter((c) => c === http2.constants.NGHTTP2_CANCEL)).toHaveLength(PER_ADDRESS);
    expect(elapsed).toBeGreaterThanOrEqual(REQUEST_MS - 100);
    await stillAnswers();
  }, 30_000);

  it("RST floods: 20,000 direct calls reset mid-request (half a frame, or a whole one) do not grow memory; RSS grows < 64 MiB", async () => {
    const growth = await rssGrowth(svc.pid, async () => {
      for (let round = 0; round < 4; round++) {
        const a = await h2Attack(svc.port);
        const block = Buffer.concat([
          Buffer.from([0x83, 0x86]), // :method POST, :scheme http
          Buffer.from([0x04, INTROSPECT.length]),
          Buffer.from(INTROSPECT),
          Buffer.from([0x00, 12]),
          Buffer.from("content-type"),
          Buffer.from([16]),
          Buffer.from("application/grpc"),
        ]);
        const half = lengthPrefixed(introspect(token)).subarray(0, 20);
        for (let i = 0; i < 5000; i++) {
          const id = a.openStream(block);
          a.socket.write(h2Frame(H2.DATA, 0, id, i % 2 ? half : lengthPrefixed(introspect(token))));
          const rst = Buffer.alloc(4);
          rst.writeUInt32BE(http2.constants.NGHTTP2_CANCEL);
          a.socket.write(h2Frame(H2.RST_STREAM, 0, id, rst));
          if (i % 500 === 0) await a.flush();
        }
        await a.flush();
        await sleep(200);
        a.close();
      }
    });
    expect(growth).toBeLessThan(64);
    await stillAnswers();
  }, 60_000);

  it("streams that never read their answers (a zero flow-control window) stay bounded; RSS grows < 64 MiB", async () => {
    const sessions: http2.ClientHttp2Session[] = [];
    const growth = await rssGrowth(svc.pid, async () => {
      for (let c = 0; c < 6; c++) {
        const session = http2.connect(`http://127.0.0.1:${svc.port}`, { settings: { initialWindowSize: 0 } });
        session.on("error", () => {});
        sessions.push(session);
        for (let i = 0; i < 100; i++) {
          const s = session.request({ ":method": "POST", ":path": INTROSPECT, ...GRPC });
          s.on("error", () => {});
          s.pause();
          s.end(lengthPrefixed(introspect(token)));
        }
      }
      await sleep(1500);
    });
    expect(growth).toBeLessThan(64);
    await stillAnswers();
    for (const s of sessions) s.destroy();
  }, 30_000);

  it("nothing of a request body comes back in grpc-message, and no token or body reaches the logs", async () => {
    const marker = "MARKERx7Qz";
    const check = toBinary(
      CheckRequestSchema,
      create(CheckRequestSchema, {
        attributes: { request: { http: { headers: { authorization: `Bearer ${token}`, "x-m": marker } } } },
      }),
    );
    const bodies: [string, Buffer, Record<string, string>?][] = [
      [INTROSPECT, lengthPrefixed(introspect(token))],
      [INTROSPECT, lengthPrefixed(introspect(`${token}${marker}`))],
      [INTROSPECT, lengthPrefixed(Buffer.concat([Buffer.from([0x0a, 0x7f]), Buffer.from(marker + token)]))],
      [INTROSPECT, lengthPrefixed(Buffer.from(`\xff\xfe${marker}${token}`, "latin1"))],
      [INTROSPECT, lengthPrefixed(gzipSync(Buffer.from(`${marker}${token}`)), 1), { "grpc-encoding": "gzip" }],
      [INTROSPECT, lengthPrefixed(Buffer.from(`${marker}${token}`), 1), { "grpc-encoding": "gzip" }],
      [INTROSPECT, Buffer.concat([lengthPrefixed(introspect(token)), lengthPrefixed(Buffer.from(marker))])],
      [CHECK, lengthPrefixed(check)],
      [CHECK, lengthPrefixed(check)],
      [CHECK, lengthPrefixed(Buffer.concat([Buffer.from([0x0a, 0x7f]), Buffer.from(marker + token)]))],
    ];
    for (const [path, body, extra] of bodies) {
      const a = await h2Request(svc.port, { ":path": path, ...GRPC, ...extra }, body).done;
      const message = String(a.trailers["grpc-message"] ?? a.headers["grpc-message"]);
      expect(message).not.toContain(marker);
      expect(message).not.toContain(token.slice(8));
      expect(a.body.toString("latin1")).not.toContain(token.slice(8));
    }
    expect(await pollUntil(() => svc.logs.some((l) => l.rpc === "Check"), 3000)).toBe(true);
    const logs = JSON.stringify(svc.logs) + svc.stderr();
    expect(logs).toContain('"rpc":"Introspect"'); // logged at debug: the lines are there to look at
    expect(logs).not.toContain(token.slice(8));
    expect(logs).not.toContain(marker);
  }, 30_000);
});
