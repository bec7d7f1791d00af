import * as http from "node:http";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGrpcInjector, createGrpcServer } from "../../src/transport/grpc/grpc-injector.js";
import { createConnectionGuard } from "../../src/transport/socket/connection-guard.js";
import { splitHttp2Streams } from "../../src/transport/socket/http2-streams.js";
import { createPlainListener } from "../../src/transport/socket/listener.js";
import { pollUntil, sleep } from "../support/poll.js";

/**
 * Issue 21: idle HTTP/2 connections are closed by the stream dispatcher (no longer by grpc-js's
 * max_connection_idle_ms, which cost a timer refresh and trace strings on nearly every call with
 * many connections). A connection with no open stream for the idle timeout gets a GOAWAY and is
 * closed; one with a stream open is left alone. The real bound is 5 minutes; 300 ms here.
 */
describe("HTTP/2 idle connections", () => {
  let port = 0;
  let close: () => Promise<void>;
  beforeAll(async () => {
    const grpcServer = createGrpcServer({
      maxReceiveBytes: 1 << 20,
      maxConcurrentStreams: 100,
      maxConnectionAgeMs: 0,
      maxConnectionAgeGraceMs: 0,
    });
    const { injector, h2 } = createGrpcInjector(grpcServer);
    const split = splitHttp2Streams(
      h2,
      {
        headersTimeoutMs: 10_000,
        maxConcurrentStreams: 100,
        maxHeaderBytes: 16_384,
        requestTimeoutMs: 60_000,
        idleTimeoutMs: 300,
      },
      (req, res) => (req.url === "/hold" ? undefined : res.end()), // /hold: never answered
      () => {},
    );
    const listener = createPlainListener(
      { h2: (s) => injector.injectConnection(s), http1: http.createServer() },
      createConnectionGuard({ maxPerAddress: 0, maxTotal: 1000 }),
      10_000,
    );
    await new Promise<void>((r) => listener.listen(0, "127.0.0.1", r));
    port = (listener.address() as AddressInfo).port;
    close = async () => {
      split.close();
      listener.close();
      grpcServer.forceShutdown();
    };
  });
  afterAll(() => close());

  const grpcHeaders = {
    ":method": "POST",
    ":path": "/x.y.Z/Nothing",
    "content-type": "application/grpc",
    te: "trailers",
  };

  it("a connection whose calls are done is closed after the idle timeout", async () => {
    const client = http2.connect(`http://127.0.0.1:${port}`);
    client.on("error", () => {});
    let goaway = false;
    client.on("goaway", () => (goaway = true));
    const req = client.request(grpcHeaders);
    req.end(Buffer.from([0, 0, 0, 0, 0]));
    await new Promise<void>((r) => {
      req.on("close", () => r());
      req.resume();
    });
    expect(await pollUntil(() => goaway || client.closed, 5000)).toBe(true);
    client.destroy();
  });

  it("a connection with a stream open is not closed", async () => {
    const client = http2.connect(`http://127.0.0.1:${port}`);
    client.on("error", () => {});
    let goaway = false;
    client.on("goaway", () => (goaway = true));
    const req = client.request({ ":method": "POST", ":path": "/hold" }); // still sending, never answered
    req.on("error", () => {});
    await sleep(1500);
    expect(goaway || client.closed).toBe(false);
    req.close();
    expect(await pollUntil(() => goaway || client.closed, 5000)).toBe(true);
    client.destroy();
  });
});
