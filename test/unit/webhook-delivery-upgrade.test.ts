import { createServer, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createDestinationGuard } from "../../src/adapters/webhook/destination-guard.js";
import { createHttpDelivery } from "../../src/adapters/webhook/webhook-http.js";

// A receiver answers with raw bytes once the request arrives.
async function rawReceiver(answer: (s: Socket) => void): Promise<{ server: Server; url: string }> {
  const server = createServer((s) => {
    s.on("error", () => undefined);
    s.once("data", () => answer(s));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook` };
}

describe("webhook delivery against a receiver that switches protocols", () => {
  let server: Server | undefined;
  afterEach(() => server?.close());

  it("ends a delivery answered 101 Switching Protocols as a failure, within the timeout (was: never settled)", async () => {
    const r = await rawReceiver((s) =>
      s.write("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"),
    );
    server = r.server;
    const deliver = createHttpDelivery({
      guard: createDestinationGuard({ allowPrivate: true }),
      timeoutMs: 500,
      maxResponseBytes: 1024,
    });
    const started = Date.now();
    const outcome = await Promise.race([
      deliver(r.url, {}, "{}"),
      new Promise((resolve) => setTimeout(() => resolve("still pending after 3 s"), 3000)),
    ]);
    expect(outcome).toEqual({ ok: false, failure: "HTTP 101" });
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it("ends a delivery whose connection closes after a 101 as a failure", async () => {
    const r = await rawReceiver((s) =>
      s.end("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"),
    );
    server = r.server;
    const deliver = createHttpDelivery({
      guard: createDestinationGuard({ allowPrivate: true }),
      timeoutMs: 500,
      maxResponseBytes: 1024,
    });
    const outcome = await Promise.race([
      deliver(r.url, {}, "{}"),
      new Promise((resolve) => setTimeout(() => resolve("still pending after 3 s"), 3000)),
    ]);
    expect(outcome).toMatchObject({ ok: false });
  });
});
