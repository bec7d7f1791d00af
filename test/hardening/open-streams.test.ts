import * as http2 from "node:http2";
import { describe, expect, it } from "vitest";
import { useTestApp } from "../support/test-app.js";
import { pollUntil } from "../support/poll.js";

/**
 * Health Watch and reflection calls may stay open as long as the client likes, and each holds
 * memory. Before the bound, one client address could open 256 connections x 100 streams: 25,000
 * gRPC-Web Watch calls took the process's RSS from 88 to 1,137 MiB. Now at most MAX_OPEN_STREAMS
 * are open at once (every protocol together); the next answers RESOURCE_EXHAUSTED, and a place
 * freed by a call that ends is available again. Real server on an ephemeral port, raw HTTP/2.
 */
const MAX = 40;
const WATCH = "/grpc.health.v1.Health/Watch";
const REFLECT = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo";
const EMPTY = Buffer.from([0, 0, 0, 0, 0]);
const LIST_SERVICES = Buffer.from([0, 0, 0, 0, 3, 0x3a, 0x01, 0x2a]);

const t = useTestApp({ logLevel: "warn", env: { MAX_OPEN_STREAMS: String(MAX) } });

interface Call {
  /** Resolves at the first response bytes (the call is open and answering). */
  first: Promise<string>;
  /** Resolves with everything received and the grpc-status, when the call ends. */
  ended: Promise<{ body: string; status: string | undefined }>;
  stream: http2.ClientHttp2Stream;
}

function open(
  session: http2.ClientHttp2Session,
  path: string,
  contentType: string,
  body: Buffer,
  endInput = true,
): Call {
  const stream = session.request({ ":method": "POST", ":path": path, "content-type": contentType, te: "trailers" });
  let data = "";
  let status: string | undefined;
  let gotFirst: (s: string) => void = () => {};
  const first = new Promise<string>((r) => (gotFirst = r));
  stream.on("response", (h) => (status = h["grpc-status"] as string | undefined));
  stream.on("trailers", (h) => (status = h["grpc-status"] as string | undefined));
  stream.on("data", (c: Buffer) => {
    data += c.toString("latin1");
    gotFirst(data);
  });
  stream.on("error", () => undefined);
  const ended = new Promise<{ body: string; status: string | undefined }>((r) =>
    stream.on("close", () => r({ body: data, status })),
  );
  void ended.then(() => gotFirst(data));
  if (endInput) stream.end(body);
  else stream.write(body);
  return { first, ended, stream };
}

describe("open Watch and reflection calls are bounded", () => {
  it(`at most ${MAX} open at once on every protocol; the next is RESOURCE_EXHAUSTED; a freed place is reused`, async () => {
    const session = http2.connect(t.baseUrl);
    session.on("error", () => undefined);
    try {
      // Fill the bound with a mix: native gRPC and gRPC-Web Watch, reflection streams held open.
      const held: Call[] = [];
      for (let i = 0; i < MAX; i++) {
        const c =
          i % 3 === 0
            ? open(session, WATCH, "application/grpc", EMPTY)
            : i % 3 === 1
              ? open(session, WATCH, "application/grpc-web+proto", EMPTY)
              : open(session, REFLECT, "application/grpc", LIST_SERVICES, false);
        held.push(c);
      }
      for (const c of held) expect(await c.first).not.toBe("");

      const grpcRefused = await open(session, WATCH, "application/grpc", EMPTY).ended;
      expect(grpcRefused.status).toBe("8");
      const webRefused = await open(session, WATCH, "application/grpc-web+proto", EMPTY).ended;
      expect(webRefused.body).toMatch(/grpc-status: ?8\r\n/);
      const reflectRefused = await open(session, REFLECT, "application/connect+proto", LIST_SERVICES).ended;
      expect(reflectRefused.body).toContain('"code":"resource_exhausted"');

      // Unary calls are not counted.
      const check = await open(session, "/grpc.health.v1.Health/Check", "application/grpc", EMPTY).ended;
      expect(check.status).toBe("0");

      // One held call goes away: its place is free again.
      held[0]!.stream.close(http2.constants.NGHTTP2_CANCEL);
      await held[0]!.ended;
      let again: Call | undefined;
      let result = "";
      await pollUntil(
        async () => {
          again = open(session, WATCH, "application/grpc", EMPTY);
          result = await Promise.race([again.first, again.ended.then((e) => `ended ${e.status}`)]);
          return !result.startsWith("ended");
        },
        5000,
        0,
      );
      expect(result.startsWith("ended")).toBe(false);
    } finally {
      session.destroy();
    }
  });
});
