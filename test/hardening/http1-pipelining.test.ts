import { describe, expect, it } from "vitest";
import { MAX_PIPELINED_REQUESTS } from "../../src/transport/socket/http1-server.js";
import { rawExchange } from "../support/raw-socket.js";
import { readyz } from "../support/probes.js";
import { useTestApp } from "../support/test-app.js";

/**
 * HTTP/1.1 pipelining by a client that never reads: Node parses a whole 64 KB read before it stops
 * reading, so every pipelined request in it got an answer queued in memory. 100 connections from
 * one address pipelining `GET /healthz` took the process's RSS from 135 to 409 MiB and another
 * client's /readyz 23 s. Now a connection with more than MAX_PIPELINED_REQUESTS requests waiting
 * for their answers is closed.
 */
const t = useTestApp();
const answers = (data: Buffer) => data.toString("latin1").split("HTTP/1.1 200 OK").length - 1;
const pipeline = (n: number) => "GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n".repeat(n);

describe("HTTP/1.1 pipelining", () => {
  it("2,000 pipelined requests in one write: the connection is closed, at most the limit answered", async () => {
    const ex = await rawExchange(t.port, [pipeline(2000)], 3000);
    expect(ex.closed).toBe(true);
    expect(answers(ex.data)).toBeLessThanOrEqual(MAX_PIPELINED_REQUESTS);
    expect((await readyz(t.port)).status).toBe(200);
  });

  it("a few pipelined requests are all answered, in order, on a connection kept open", async () => {
    const ex = await rawExchange(t.port, [pipeline(10)], 1000);
    expect(answers(ex.data)).toBe(10);
    expect(ex.closed).toBe(false);
  });
});
