import * as http2 from "node:http2";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGrpcTokenClient } from "../support/grpc-client.js";
import { h2Attack, indexed, literal, literalIndexed, requestHeaders, rssGrowth } from "../support/h2-attack.js";
import { spawnService, type ServiceProcess } from "../support/service-process.js";
import { pollUntil as until } from "../support/poll.js";
import { readyz } from "../support/probes.js";

/**
 * HTTP/2 floods against the real process (RSS read from /proc): before the limits, the server
 * advertised 2^32-1 concurrent streams and no header-list limit, 1,000-4,000 streams re-referencing
 * one 4,000-byte HPACK entry 24 times took RSS from 286 to 589 MiB without a single RST_STREAM,
 * and a stream that never finished its request was held forever.
 */
const REQUEST_MS = 1500;
let svc: ServiceProcess;
beforeAll(async () => {
  svc = await spawnService({ env: { HTTP_REQUEST_TIMEOUT_MS: String(REQUEST_MS), HTTP_HEADERS_TIMEOUT_MS: "1000" } });
}, 30_000);
afterAll(() => svc?.kill());

async function stillAnswersOthers() {
  const started = Date.now();
  const client = createGrpcTokenClient(`127.0.0.1:${svc.port}`, undefined, { "grpc.use_local_subchannel_pool": 1 });
  try {
    expect((await client.introspect({ token: "wf_acme_nope" }, { deadlineMs: 2000 })).active).toBe(false);
  } finally {
    client.close();
  }
  expect((await readyz(svc.port)).status).toBe(200);
  return Date.now() - started;
}

describe("HTTP/2 limits", () => {
  it("advertises 100 concurrent streams and a 16 KiB header list", async () => {
    const session = http2.connect(`http://127.0.0.1:${svc.port}`);
    try {
      const settings = await new Promise<http2.Settings>((resolve) => session.once("remoteSettings", resolve));
      expect(settings.maxConcurrentStreams).toBe(100);
      expect(settings.maxHeaderListSize).toBe(16_384);
    } finally {
      session.destroy();
    }
  });

  it("HPACK amplification: 3,000 streams re-referencing a 4,000-byte entry 24 times are reset; RSS grows < 64 MiB", async () => {
    const a = await h2Attack(svc.port);
    const growth = await rssGrowth(svc.pid, async () => {
      a.openStream(Buffer.concat([requestHeaders(), literalIndexed("x-a", "a".repeat(4000))]));
      const amplified = Buffer.concat([requestHeaders(), ...Array.from({ length: 24 }, () => indexed(62))]);
      for (let i = 0; i < 3000; i++) a.openStream(amplified);
      await a.flush();
      await until(() => a.resets.size >= 2900 || a.goaway() !== undefined || a.closed(), 10_000);
    });
    console.log(
      `HPACK amplification: ${a.resets.size} streams reset, GOAWAY ${a.goaway()}, closed ${a.closed()}, RSS +${growth.toFixed(1)} MiB`,
    );
    // Every amplified stream was refused (RST_STREAM) or the connection was ended (GOAWAY/close).
    expect(a.resets.size >= 2900 || a.goaway() !== undefined || a.closed()).toBe(true);
    expect(growth).toBeLessThan(64);
    a.close();
    expect(await stillAnswersOthers()).toBeLessThan(1000);
  }, 30_000);

  it("5,000 streams with 8 KB headers, never finished: at most 100 open, RSS grows < 64 MiB", async () => {
    const a = await h2Attack(svc.port);
    const growth = await rssGrowth(svc.pid, async () => {
      for (let i = 0; i < 5000; i++)
        a.openStream(Buffer.concat([requestHeaders(), literal("x-pad", String(i).padStart(8000, "p"))]));
      await a.flush();
      await until(() => a.resets.size >= 4900 || a.goaway() !== undefined || a.closed(), 10_000);
    });
    console.log(
      `8 KB header flood: ${a.resets.size} streams reset, GOAWAY ${a.goaway()}, closed ${a.closed()}, RSS +${growth.toFixed(1)} MiB`,
    );
    expect(a.resets.size >= 4900 || a.goaway() !== undefined || a.closed()).toBe(true);
    expect(growth).toBeLessThan(64);
    a.close();
    expect(await stillAnswersOthers()).toBeLessThan(1000);
  }, 30_000);

  it("a stream that never finishes its request is reset after HTTP_REQUEST_TIMEOUT_MS", async () => {
    const a = await h2Attack(svc.port);
    try {
      const started = Date.now();
      const id = a.openStream(requestHeaders());
      expect(await until(() => a.resets.has(id), REQUEST_MS + 3000)).toBe(true);
      expect(Date.now() - started).toBeGreaterThanOrEqual(REQUEST_MS - 100);
      expect(a.resets.get(id)).toBe(http2.constants.NGHTTP2_CANCEL);
    } finally {
      a.close();
    }
  }, 15_000);

  it("gRPC metadata over 16 KiB (40 KB) is refused, not served", async () => {
    const client = createGrpcTokenClient(`127.0.0.1:${svc.port}`, undefined, { "grpc.use_local_subchannel_pool": 1 });
    try {
      const err = await client
        .introspect({ token: "wf_acme_nope" }, { metadata: { "x-big": "b".repeat(40_000) } })
        .then(
          () => undefined,
          (e: { code: number }) => e,
        );
      // The server resets the stream with ENHANCE_YOUR_CALM, which grpc-js reports as
      // RESOURCE_EXHAUSTED (was: "any code but OK", which a client-side failure would also pass).
      expect(err?.code).toBe(status.RESOURCE_EXHAUSTED);
      // Just under the limit is served.
      const ok = await client.introspect({ token: "wf_acme_nope" }, { metadata: { "x-big": "b".repeat(12_000) } });
      expect(ok.active).toBe(false);
    } finally {
      client.close();
    }
  });
});
