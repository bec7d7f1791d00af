import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bufCurl } from "../support/buf-curl.js";
import { pollUntil } from "../support/poll.js";
import { envelope, holdStreams, type HeldCalls } from "../support/stream-flood.js";
import { startTestApp, type TestApp } from "../support/test-app.js";

/**
 * Hardening III, item 3. MAX_OPEN_STREAMS (2,000) was shared by everyone: one client opened 2,000
 * health Watch calls over 20 HTTP/2 connections and held them, and after that every other client's
 * Watch and every reflection call (buf curl --list-services, grpcurl) answered RESOURCE_EXHAUSTED.
 * Now one client address holds at most MAX_OPEN_STREAMS_PER_ADDRESS (default 100) of them. The
 * attack with the defaults, from 127.0.0.2; the victim on 127.0.0.1 (buf curl, raw HTTP/2).
 */
const ATTACKER = "127.0.0.2";
const PER_ADDRESS_DEFAULT = 100;
let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ logLevel: "warn" });
});
afterAll(async () => {
  await t?.close();
});

/** One Watch (from 127.0.0.1 unless told): open and answering (not refused) after its first message. */
async function victimWatch(contentType: string, localAddress?: string): Promise<boolean> {
  const w = holdStreams({
    port: t.port,
    connections: 1,
    perConnection: 1,
    contentType,
    ...(localAddress ? { localAddress } : {}),
  });
  try {
    if (!(await pollUntil(() => w.open() === 1 || w.ended.size > 0, 5_000))) return false;
    await new Promise((r) => setTimeout(r, 300)); // a refusal would end it (gRPC-Web: status in the body)
    return w.open() === 1 && w.ended.size === 0;
  } finally {
    w.close();
  }
}

describe("one client address cannot take every open-stream place", () => {
  it("2,000 Watch calls from one address over 20 connections: 100 held, the rest refused; another client's Watch and reflection work", async () => {
    let attack: HeldCalls | undefined;
    try {
      attack = holdStreams({
        port: t.port,
        localAddress: ATTACKER,
        connections: 20,
        perConnection: 100,
        body: envelope(Buffer.alloc(0)),
      });
      const settled = () => attack!.open() + [...attack!.ended.values()].reduce((a, b) => a + b, 0) >= 2_000;
      expect(await pollUntil(settled, 30_000, 50)).toBe(true);
      console.log(`attack: ${attack.open()} Watch calls held, ended ${JSON.stringify([...attack.ended])}`);
      // The victim, while the attacker holds its share.
      expect(await victimWatch("application/grpc"), "gRPC Watch").toBe(true);
      expect(await victimWatch("application/grpc-web+proto"), "gRPC-Web Watch").toBe(true);
      const list = await bufCurl([
        "--http2-prior-knowledge",
        "--protocol",
        "grpc",
        "--list-services",
        `http://127.0.0.1:${t.port}`,
      ]);
      expect(list.stderr).toBe("");
      expect(list.stdout).toContain("grpc.health.v1.Health");
      const listWeb = await bufCurl([
        "--http2-prior-knowledge",
        "--protocol",
        "grpcweb",
        "--list-services",
        `http://127.0.0.1:${t.port}`,
      ]);
      expect(listWeb.stdout).toContain("warpflow.auth.v1.TokenService");
      // The attacker's share is counted on every protocol: its gRPC-Web Watch is refused too.
      expect(await victimWatch("application/grpc-web+proto", ATTACKER), "the attacker's gRPC-Web Watch").toBe(false);
      expect(attack.open()).toBe(PER_ADDRESS_DEFAULT); // the attacker holds its share, still open
      expect(attack.ended.get("8")).toBe(2_000 - PER_ADDRESS_DEFAULT);
    } finally {
      attack?.close();
    }
    // Its places are free again once it leaves (the server sees the cancellations a moment later).
    const deadline = Date.now() + 10_000;
    let reopened = 0;
    while (reopened < PER_ADDRESS_DEFAULT && Date.now() < deadline) {
      const again = holdStreams({
        port: t.port,
        localAddress: ATTACKER,
        connections: 1,
        perConnection: PER_ADDRESS_DEFAULT,
      });
      await pollUntil(() => again.open() + (again.ended.get("8") ?? 0) >= PER_ADDRESS_DEFAULT, 5_000);
      reopened = again.open();
      again.close();
      if (reopened < PER_ADDRESS_DEFAULT) await new Promise((r) => setTimeout(r, 200));
    }
    expect(reopened).toBe(PER_ADDRESS_DEFAULT);
  }, 60_000);
});
