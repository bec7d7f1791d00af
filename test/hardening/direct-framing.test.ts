import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MessageReader } from "../../src/transport/grpc/direct/message-reader.js";
import { h2Attack, requestHeaders, rssMiB } from "../support/h2-attack.js";
import { sleep } from "../support/poll.js";
import { H2, h2Frame, lengthPrefixed } from "../support/raw-socket.js";
import { spawnService, type ServiceProcess } from "../support/service-process.js";

/**
 * Attack finding (session 33, atk): the direct path's message reader kept one Buffer per DATA chunk
 * of a message until it was whole. A declared 64 KiB message sent as 1-byte DATA frames held ~8 MiB
 * per stream (20 half-sent streams: server RSS 145 -> 305 MiB; 256 such streams are allowed per
 * address). grpc-js's StreamDecoder does the same; the direct reader now copies a message that came
 * in many pieces into one buffer of its declared size (<= MAX_BODY_BYTES).
 */
const MAX = 65_536;

function feedBytewise(reader: MessageReader, bytes: Buffer): void {
  for (let i = 0; i < bytes.length; i++) reader.write(bytes.subarray(i, i + 1));
}

describe("direct message reader: a message in 1-byte chunks", () => {
  it("gives the same messages, whatever the chunking (1 byte, 63, 64, 65 pieces and more)", () => {
    for (const size of [1, 62, 63, 64, 65, 200, MAX]) {
      const a = randomBytes(size);
      const b = randomBytes(Math.max(1, size >> 1));
      const got: string[] = [];
      const reader = new MessageReader(MAX, "identity", {
        message: (_i, m) => void got.push(m.toString("hex")),
        refuse: (_c, d) => void got.push(`refused ${d}`),
      });
      feedBytewise(reader, Buffer.concat([lengthPrefixed(a), lengthPrefixed(b)]));
      expect(got, `size ${size}`).toEqual([a.toString("hex"), b.toString("hex")]);
    }
  });

  it("40 half-read 64 KiB messages fed byte by byte hold < 24 MiB of heap (was ~8 MiB each)", () => {
    const wire = lengthPrefixed(Buffer.alloc(MAX, 0x41));
    const readers: MessageReader[] = [];
    const before = process.memoryUsage().heapUsed;
    for (let r = 0; r < 40; r++) {
      const reader = new MessageReader(MAX, "identity", { message: () => {}, refuse: () => {} });
      feedBytewise(reader, wire.subarray(0, wire.length - 1)); // all but the last byte
      readers.push(reader);
    }
    const grown = (process.memoryUsage().heapUsed - before) / 2 ** 20;
    expect(readers).toHaveLength(40);
    expect(grown).toBeLessThan(24);
  });
});

describe("direct message reader: a declared size is only a claim", () => {
  it("20 messages declared at 16 MiB, 100 bytes of each sent byte by byte, hold < 8 MiB of buffers", () => {
    const big = 16 << 20;
    const head = Buffer.alloc(5);
    head.writeUInt32BE(big, 1);
    const readers: MessageReader[] = [];
    const before = process.memoryUsage().arrayBuffers;
    for (let r = 0; r < 20; r++) {
      const reader = new MessageReader(big, "identity", { message: () => {}, refuse: () => {} });
      feedBytewise(reader, Buffer.concat([head, Buffer.alloc(100, 0x41)]));
      readers.push(reader);
    }
    expect(readers).toHaveLength(20);
    expect((process.memoryUsage().arrayBuffers - before) / 2 ** 20).toBeLessThan(8); // 320 MiB if sized by the claim
  });

  it("mixed chunk sizes past the piece limit give the message back whole", () => {
    const body = randomBytes(300_000);
    const wire = lengthPrefixed(body);
    const got: Buffer[] = [];
    const reader = new MessageReader(1 << 20, "identity", { message: (_i, m) => void got.push(m), refuse: () => {} });
    let at = 0;
    for (let i = 0; at < wire.length; i++) {
      const n = i < 100 ? 1 : (i * 7919) % 5000;
      reader.write(wire.subarray(at, at + n));
      at += n;
    }
    expect(got).toHaveLength(1);
    expect(got[0]!.equals(body)).toBe(true);
  });
});

describe("direct call against the real process: half-sent messages in 1-byte DATA frames", () => {
  let svc: ServiceProcess;
  beforeAll(async () => {
    svc = await spawnService({ env: { HTTP_REQUEST_TIMEOUT_MS: "60000" } });
  }, 30_000);
  afterAll(() => svc?.kill());

  it("16 streams x 64 KiB declared, 40,000 1-byte DATA frames each: RSS grows < 40 MiB", async () => {
    const a = await h2Attack(svc.port);
    try {
      await sleep(200);
      const base = rssMiB(svc.pid);
      const ids = Array.from({ length: 16 }, () => a.openStream(requestHeaders()));
      const prefix = Buffer.from([0, 0, 1, 0, 0]); // a 65,536-byte message
      for (let k = 0; k < 40_000; k += 100) {
        const parts: Buffer[] = [];
        for (const id of ids)
          for (let j = k; j < k + 100; j++)
            parts.push(h2Frame(H2.DATA, 0, id, Buffer.from([j < 5 ? prefix[j]! : 0x41])));
        a.socket.write(Buffer.concat(parts));
        if (k % 5000 === 0) await a.flush();
      }
      await a.flush();
      await sleep(1500);
      expect(a.resets.size).toBe(0); // all still open, each holding its half message
      const grown = rssMiB(svc.pid) - base;
      expect(grown).toBeLessThan(40); // was ~4 MiB per stream (+66 MiB)
    } finally {
      a.close();
    }
  }, 90_000);
});
