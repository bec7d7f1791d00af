// A secret-scanning alert refused before its signature could be checked (body over the limit, cut
// off, late, wrong method) is a stranger's refusal: anyone can send one under forged headers, so it
// logs at debug like the endpoint's 401s (call-observer.ts), not one info line per request (review
// finding, session 32: the observer picked the level from the status code only). A failure after
// the signature (the store down) keeps its info line.
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DomainError } from "../../src/domain/errors.js";
import { createSecretScanningHandler, type AlertReceiver } from "../../src/transport/http/secret-scanning-alerts.js";
import { createCallObserver } from "../../src/transport/protocol/call-observer.js";
import { httpRequest } from "../support/authz.js";
import { lineSink } from "../support/log-lines.js";
import { holdRaw } from "../support/raw-socket.js";
import { waitUntil } from "../support/poll.js";

const PATH = "/api/v1/secret-scanning/alerts";
const signed = "Github-Public-Key-Identifier: k1\r\nGithub-Public-Key-Signature: AAAA\r\n";
const sink = lineSink();
let received = 0;
const receiver: AlertReceiver = {
  knowsKey: () => Promise.resolve(true),
  receive() {
    received++;
    return Promise.reject(new DomainError("unavailable", "store down"));
  },
};
const observer = createCallObserver(pino({ level: "debug" }, sink.stream), undefined, new Set());
const handler = createSecretScanningHandler(receiver, observer, 1024, 8, 300);
const server = http.createServer((req, res) => void handler(req, res));
let port = 0;
beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => {
  server.closeAllConnections();
  return new Promise<void>((resolve) => server.close(() => resolve()));
});

/** The observer's line for the next alert call: its level and code. */
async function nextLine(send: () => Promise<unknown>): Promise<{ level: number; code: string }> {
  const before = sink.lines.length;
  await send();
  await waitUntil(() => sink.lines.slice(before).some((l) => l.includes('"rpc":"SecretScanningAlert"')), 5000);
  const line = sink.lines.slice(before).find((l) => l.includes('"rpc":"SecretScanningAlert"'))!;
  return JSON.parse(line) as { level: number; code: string };
}

const raw = (head: string, body: string) =>
  holdRaw(port, `POST ${PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${signed}${head}\r\n${body}`);

describe("alert refusals before the signature log at debug", () => {
  it("a body over the limit (413)", async () => {
    const line = await nextLine(() =>
      httpRequest(port, PATH, {
        method: "POST",
        headers: { "github-public-key-identifier": "k1", "github-public-key-signature": "AAAA" },
        body: "x".repeat(4096),
      }).catch(() => undefined),
    );
    expect(line).toEqual(expect.objectContaining({ code: "resource_exhausted", level: 20 }));
  });

  it("a body cut off (the sender went away)", async () => {
    const line = await nextLine(async () => {
      const held = raw("Content-Length: 100\r\n", '{"token"');
      await held.connected;
      held.socket.end();
    });
    expect(line).toEqual(expect.objectContaining({ code: "invalid_argument", level: 20 }));
  });

  it("a body not received in time (408)", async () => {
    const line = await nextLine(async () => {
      const held = raw("Content-Length: 100\r\n", '{"token"');
      await held.until((d) => d.startsWith("HTTP/1.1 408"));
      held.socket.destroy();
    });
    expect(line).toEqual(expect.objectContaining({ code: "deadline_exceeded", level: 20 }));
  });

  it("a wrong method under forged headers (405)", async () => {
    const line = await nextLine(() =>
      httpRequest(port, PATH, {
        method: "PUT",
        headers: { "github-public-key-identifier": "k1", "github-public-key-signature": "AAAA" },
      }),
    );
    expect(line).toEqual(expect.objectContaining({ code: "invalid_argument", level: 20 }));
  });

  it("but a failure once the body is in (the store down) stays at info", async () => {
    const line = await nextLine(() =>
      httpRequest(port, PATH, {
        method: "POST",
        headers: { "github-public-key-identifier": "k1", "github-public-key-signature": "AAAA" },
        body: "[]",
      }),
    );
    expect(received).toBe(1);
    expect(line).toEqual(expect.objectContaining({ code: "unavailable", level: 30 }));
  });
});
