import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";
import { Health } from "../../src/gen/grpc/health/v1/health_pb.js";
import { quoteInput } from "../../src/transport/builtin/quote-input.js";
import { served } from "../../src/transport/protocol/served-service.js";
import { addressOf, limitOpenStreams } from "../../src/transport/builtin/stream-limit.js";

/** Hardening III, items 1 and 3: the pieces, without a server (the attacks are in test/hardening). */
describe("open-stream bound per client address", () => {
  // A Watch that stays open until its signal aborts.
  const watch = served(Health, {
    check: async () => {
      throw new Error("unused");
    },
    async *watch(_req, signal) {
      yield {} as never;
      await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
    },
    list: async () => {
      throw new Error("unused");
    },
  });
  type Open = (input: unknown, signal: AbortSignal, peer?: string) => AsyncIterable<unknown>;

  async function start(h: Open, peer: string | undefined) {
    const ac = new AbortController();
    const it = h({}, ac.signal, peer)[Symbol.asyncIterator]();
    try {
      await it.next();
      const rest = it.next(); // runs until aborted
      return { ok: true as const, close: async () => (ac.abort(), await rest) };
    } catch (e) {
      return { ok: false as const, code: ConnectError.from(e).code, message: (e as Error).message };
    }
  }

  it("one address gets maxPerAddress, another address still gets in, a closed call frees its place", async () => {
    const [limited] = limitOpenStreams([watch], { max: 10, maxPerAddress: 3 });
    const h = limited!.handlers.watch as unknown as Open;
    const mine = await Promise.all([1, 2, 3].map((p) => start(h, `127.0.0.1:${40000 + p}`)));
    expect(mine.every((c) => c.ok)).toBe(true);
    const fourth = await start(h, "127.0.0.1:40004");
    expect(fourth).toMatchObject({ ok: false, code: Code.ResourceExhausted });
    expect((fourth as { message: string }).message).not.toContain("127.0.0.1");
    const other = await start(h, "[::1]:40005");
    expect(other.ok).toBe(true);
    if (mine[0]!.ok) await mine[0]!.close();
    expect((await start(h, "127.0.0.1:40006")).ok).toBe(true);
  });

  it("an IPv6 client counts by its /64, an IPv4-mapped address as the IPv4 one (attack finding)", async () => {
    const [limited] = limitOpenStreams([watch], { max: 100, maxPerAddress: 2 });
    const h = limited!.handlers.watch as unknown as Open;
    const peers = ["[2001:db8:1:2::1]:1", "[2001:db8:1:2::2]:2", "[2001:db8:1:2:ffff::3]:3", "2001:db8:1:2::4:4"];
    const v6 = await Promise.all(peers.map((p) => start(h, p)));
    expect(v6.map((c) => c.ok)).toEqual([true, true, false, false]);
    expect((await start(h, "[2001:db8:1:3::1]:5")).ok).toBe(true); // the next /64 is another client
    const v4 = await Promise.all(["10.0.0.9:1", "::ffff:10.0.0.9:2", "[::ffff:10.0.0.9]:3"].map((p) => start(h, p)));
    expect(v4.map((c) => c.ok)).toEqual([true, true, false]);
  });

  it("0 means no per-address bound; the total bound still holds", async () => {
    const [limited] = limitOpenStreams([watch], { max: 4, maxPerAddress: 0 });
    const h = limited!.handlers.watch as unknown as Open;
    const calls = await Promise.all([1, 2, 3, 4, 5].map((p) => start(h, `10.0.0.1:${p}`)));
    expect(calls.map((c) => c.ok)).toEqual([true, true, true, true, false]);
  });

  it("addressOf drops the port of grpc-js and peer.ts forms", () => {
    expect(addressOf("127.0.0.1:5678")).toBe("127.0.0.1");
    expect(addressOf("::1:5678")).toBe("::1");
    expect(addressOf("[::1]:5678")).toBe("::1");
    expect(addressOf("::ffff:127.0.0.1:5678")).toBe("::ffff:127.0.0.1");
    expect(addressOf("unknown")).toBeUndefined();
    expect(addressOf(undefined)).toBeUndefined();
  });

  it("MAX_OPEN_STREAMS_PER_ADDRESS: default 100, 0 allowed, bad values name the variable", () => {
    expect(loadConfig({}).limits.maxOpenStreamsPerAddress).toBe(100);
    expect(loadConfig({ MAX_OPEN_STREAMS_PER_ADDRESS: "0" }).limits.maxOpenStreamsPerAddress).toBe(0);
    for (const bad of ["-1", "many", "1e3"]) {
      expect(() => loadConfig({ MAX_OPEN_STREAMS_PER_ADDRESS: bad })).toThrow(ConfigError);
    }
  });
});

describe("quoteInput", () => {
  it("escapes every character outside printable ASCII and cuts long input", () => {
    expect(quoteInput("warpflow.auth.v1.TokenService")).toBe('"warpflow.auth.v1.TokenService"');
    expect(quoteInput('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(quoteInput("\x1b[2J\r\n\u202e\u{1f600}")).toBe('"\\x1b[2J\\x0d\\x0a\\u{202e}\\u{1f600}"');
    const long = quoteInput("\x01".repeat(65_000));
    expect(long.length).toBeLessThan(120);
    expect(long).toMatch(/^"(\\x01){16}"\.\.\. \(64984 more characters\)$/);
    expect(long).not.toMatch(/[\x00-\x1f\x7f-\x9f]/);
  });
});
