import { createRequire } from "node:module";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { MessageReader } from "../../src/transport/grpc/direct/message-reader.js";

/**
 * The direct path's message reader (src/transport/grpc/direct/message-reader.ts) against grpc-js
 * 1.14's own StreamDecoder, fed the same bytes cut at random places: the same messages, in the same
 * order, and the same refusal of a message over the maximum (text included).
 */
const require = createRequire(import.meta.url);
const { StreamDecoder } = require("@grpc/grpc-js/build/src/stream-decoder.js") as {
  StreamDecoder: new (max: number) => { write(b: Buffer): Buffer[] };
};

function rng(seed: number) {
  let s = seed >>> 0;
  return (n: number) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % n;
  };
}

function frame(body: Buffer, flag = 0): Buffer {
  const head = Buffer.alloc(5);
  head[0] = flag;
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

function viaGrpcJs(bytes: Buffer, cuts: number[], max: number) {
  const decoder = new StreamDecoder(max);
  const out: string[] = [];
  let at = 0;
  try {
    for (const end of [...cuts, bytes.length]) {
      for (const m of decoder.write(bytes.subarray(at, end))) out.push(`${m[0]}:${m.subarray(5).toString("hex")}`);
      at = end;
    }
  } catch (e) {
    out.push(`refused: ${(e as Error).message}`);
  }
  return out;
}

function viaReader(bytes: Buffer, cuts: number[], max: number) {
  const out: string[] = [];
  const flags: number[] = [];
  // identity: a flagged message is passed as it is (grpc-js does the same without grpc-encoding)
  const reader = new MessageReader(max, "identity", {
    message: (_i, b) => void out.push(`${flags.shift()}:${b.toString("hex")}`),
    refuse: (_code, details) => void out.push(`refused: ${details}`),
  });
  // The flag of each complete message, read from the frames in order (the reader reports bytes only).
  let at = 0;
  while (at + 5 <= bytes.length) {
    flags.push(bytes[at]!);
    at += 5 + bytes.readUInt32BE(at + 1);
  }
  at = 0;
  for (const end of [...cuts, bytes.length]) {
    if (reader.stopped) break;
    reader.write(bytes.subarray(at, end));
    at = end;
  }
  return out;
}

describe("the direct path's message reader reads as grpc-js's StreamDecoder", () => {
  it("2,000 random frame sequences cut at random places: the same messages and refusals", () => {
    const next = rng(21);
    for (let round = 0; round < 2000; round++) {
      const max = 1 + next(400);
      const frames: Buffer[] = [];
      for (let n = next(4); n >= 0; n--) {
        const size = next(10) === 0 ? max + 1 + next(5) : next(Math.min(max, 300) + 1);
        frames.push(frame(Buffer.from(Array.from({ length: size }, () => next(256))), next(3) === 0 ? 1 : 0));
      }
      const bytes = Buffer.concat(frames);
      const cuts = [...new Set(Array.from({ length: next(6) }, () => next(bytes.length + 1)))].sort((a, b) => a - b);
      const want = viaGrpcJs(bytes, cuts, max);
      const got = viaReader(bytes, cuts, max);
      // The reader stops at a refusal; grpc-js's call ignores everything after it too.
      expect(got, `round ${round}`).toEqual(want);
    }
  });

  it("gzip: inflates at most the maximum (a bomb is refused), and reports in order behind an inflating message", async () => {
    const events: string[] = [];
    const done = new Promise<void>((resolve) => {
      const reader = new MessageReader(1000, "gzip", {
        message: (i, b) => {
          events.push(`${i}:${b.toString()}`);
          if (i === 1) resolve();
        },
        refuse: (_c, d) => {
          events.push(d);
          resolve();
        },
      });
      reader.write(Buffer.concat([frame(gzipSync(Buffer.from("first")), 1), frame(Buffer.from("second"))]));
    });
    await done;
    expect(events).toEqual(["0:first", "1:second"]); // "second" (not compressed) waited for "first"
    const refused = await new Promise<string>((resolve) => {
      const reader = new MessageReader(5000, "gzip", {
        message: () => resolve("inflated"),
        refuse: (_c, d) => resolve(d),
      });
      reader.write(frame(gzipSync(Buffer.alloc(1 << 20)), 1));
    });
    expect(refused).toBe("Received message that decompresses to a size larger than 5000");
  });
});
