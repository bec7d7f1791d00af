import { createHook } from "node:async_hooks";
import * as http2 from "node:http2";
import { deflateSync, gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DirectCall } from "../../src/transport/grpc/direct/direct-call.js";
import { h2Request } from "../support/h2-request.js";
import { rssMiB } from "../support/h2-attack.js";
import { sleep } from "../support/poll.js";
import { lengthPrefixed } from "../support/raw-socket.js";
import { spawnService, type ServiceProcess } from "../support/service-process.js";

/**
 * Attack finding (session 33, atk): a directly served unary call (src/transport/grpc/direct/)
 * inflated EVERY compressed message of its request as soon as its frame was in, all at once on the
 * threadpool, before the second one was reported and the call refused. One Introspect stream with
 * a 1 MB body of 10,000 gzip messages (each 64 KiB once inflated) started 5,190 inflations: server
 * RSS 153 -> 719 MiB, event-loop delay 442 ms. grpc-js pauses the stream after each chunk's
 * messages (server-interceptors.js handleDataFrame) and took +26 MiB. A one-message call needs at
 * most two messages decoded (the second ends it: its own error or "second request message").
 */
const INTROSPECT = "/warpflow.auth.v1.TokenService/Introspect";
const MAX = 65_536;

/** ZLIB async resources created while `fn` runs (one per zlib.gunzip / zlib.inflate job). */
function zlibJobsDuring(fn: () => void): number {
  let n = 0;
  const hook = createHook({
    init(_id, type) {
      if (type === "ZLIB") n++;
    },
  }).enable();
  try {
    fn();
  } finally {
    hook.disable();
  }
  return n;
}

describe("direct unary call (DirectCall): compressed messages past the second are never inflated", () => {
  for (const [encoding, compress] of [
    ["gzip", gzipSync],
    ["deflate", deflateSync],
  ] as const) {
    it(`${encoding}: one chunk of 1,000 compressed messages starts at most 2 inflations`, async () => {
      const body = Buffer.concat(Array.from({ length: 1000 }, () => lengthPrefixed(compress(Buffer.alloc(MAX)), 1)));
      const started: number[] = [];
      // A stream already gone: the call's status is not written anywhere (only its reader is looked at).
      const stream = { destroyed: true, closed: true } as unknown as http2.ServerHttp2Stream;
      const call = new DirectCall(
        stream,
        { "grpc-encoding": encoding },
        {
          path: INTROSPECT,
          maxReceiveBytes: MAX,
          onRequest: (_call, bytes) => void started.push(bytes.length),
        },
      );
      const jobs = zlibJobsDuring(() => call.reader!.write(body));
      expect(jobs).toBeLessThanOrEqual(2); // was 1,000
      await sleep(300);
      expect(call.done).toBe(true); // the second message ended it
      expect(started).toEqual([]);
    });
  }
});

describe("direct unary call against the real process: many compressed messages on one stream", () => {
  let svc: ServiceProcess;
  beforeAll(async () => {
    svc = await spawnService();
  }, 30_000);
  afterAll(() => svc?.kill());

  it("1 MB of 10,000 gzip messages (64 KiB each inflated) on one stream: UNIMPLEMENTED, RSS grows < 96 MiB", async () => {
    const one = lengthPrefixed(gzipSync(Buffer.alloc(MAX)), 1);
    const body = Buffer.concat(Array.from({ length: 10_000 }, () => one));
    const base = rssMiB(svc.pid);
    let peak = base;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(svc.pid))), 10);
    const session = http2.connect(`http://127.0.0.1:${svc.port}`);
    session.on("error", () => {});
    try {
      const answers = await Promise.all(
        Array.from(
          { length: 2 },
          () =>
            h2Request(
              session,
              { ":path": INTROSPECT, "content-type": "application/grpc", te: "trailers", "grpc-encoding": "gzip" },
              body,
            ).done,
        ),
      );
      await sleep(500);
      peak = Math.max(peak, rssMiB(svc.pid));
      for (const a of answers) {
        expect(a.grpcStatus).toBe("12");
        expect(a.headers["grpc-message"] ?? a.trailers["grpc-message"]).toBe(
          `Received%20a%20second%20request%20message%20for%20server%20streaming%20method%20${INTROSPECT}`,
        );
      }
    } finally {
      clearInterval(sampler);
      session.close();
    }
    expect(peak - base).toBeLessThan(96); // was +566 MiB (one stream)
  }, 60_000);
});
