import { readFileSync } from "node:fs";
import * as net from "node:net";
import { H2, H2_PREFACE, h2Frame, parseH2Frames } from "./raw-socket.js";

/**
 * A hand-rolled HTTP/2 client for attacks no library will send: HPACK blocks built byte by byte
 * (RFC 7541), streams opened past the server's limit, requests never finished. It records what the
 * server sends back (RST_STREAM codes, GOAWAY) so tests can assert the server pushed back.
 */

/** HPACK integer with an N-bit prefix (RFC 7541 section 5.1). */
export function hpackInt(value: number, prefixBits: number, flags: number): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([flags | value]);
  const out = [flags | max];
  value -= max;
  while (value >= 128) {
    out.push((value % 128) + 128);
    value = Math.floor(value / 128);
  }
  out.push(value);
  return Buffer.from(out);
}

const str = (s: string) => Buffer.concat([hpackInt(Buffer.byteLength(s), 7, 0), Buffer.from(s)]);
/** Indexed header field (static or dynamic table). */
export const indexed = (i: number) => hpackInt(i, 7, 0x80);
/** Literal with incremental indexing, new name: adds the entry to the dynamic table (index 62). */
export const literalIndexed = (name: string, value: string) =>
  Buffer.concat([Buffer.from([0x40]), str(name), str(value)]);
/** Literal without indexing, new name. */
export const literal = (name: string, value: string) => Buffer.concat([Buffer.from([0x00]), str(name), str(value)]);
/** Literal without indexing, name from the static table. */
export const literalStaticName = (index: number, value: string) => Buffer.concat([hpackInt(index, 4, 0), str(value)]);

/** :method POST, :scheme http, :path, :authority, content-type (gRPC Introspect). */
export function requestHeaders(contentType = "application/grpc"): Buffer {
  return Buffer.concat([
    indexed(3), // :method POST
    indexed(6), // :scheme http
    literalStaticName(4, "/warpflow.auth.v1.TokenService/Introspect"),
    literalStaticName(1, "localhost"),
    literal("content-type", contentType),
  ]);
}

export interface H2Attack {
  socket: net.Socket;
  /** HEADERS (END_HEADERS, no END_STREAM: the request stays open) on a new odd stream id. */
  openStream(block: Buffer): number;
  /** RST_STREAM error codes received, by stream id. */
  resets: Map<number, number>;
  goaway: () => number | undefined;
  closed: () => boolean;
  flush(): Promise<void>;
  close(): void;
}

export async function h2Attack(port: number): Promise<H2Attack> {
  const socket = net.connect({ port, host: "127.0.0.1" });
  socket.on("error", () => undefined);
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  const resets = new Map<number, number>();
  let goaway: number | undefined;
  let closed = false;
  socket.on("close", () => (closed = true));
  let buf: Buffer = Buffer.alloc(0);
  socket.on("data", (d: Buffer) => {
    const { frames, rest } = parseH2Frames(Buffer.concat([buf, d]));
    buf = rest;
    for (const { type, flags, streamId: id, payload } of frames) {
      if (type === H2.SETTINGS && !(flags & 1)) socket.write(h2Frame(H2.SETTINGS, 1, 0));
      if (type === H2.RST_STREAM) resets.set(id, payload.readUInt32BE(0));
      if (type === H2.GOAWAY) goaway = payload.readUInt32BE(4);
      if (type === H2.PING && !(flags & 1)) socket.write(h2Frame(H2.PING, 1, 0, payload));
    }
  });
  socket.write(Buffer.concat([H2_PREFACE, h2Frame(H2.SETTINGS, 0, 0)]));
  let next = 1;
  return {
    socket,
    openStream(block) {
      const id = next;
      next += 2;
      socket.write(h2Frame(H2.HEADERS, 0x4, id, block));
      return id;
    },
    resets,
    goaway: () => goaway,
    closed: () => closed,
    flush: () =>
      new Promise<void>((resolve) => {
        if (socket.writableLength === 0 || closed) return resolve();
        socket.once("drain", () => resolve());
        socket.once("close", () => resolve());
      }),
    close: () => socket.destroy(),
  };
}

/** Resident set size of a process, in MiB (Linux). */
export function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** Runs an attack while sampling a process's RSS every 25 ms; returns the peak growth over the baseline, MiB. */
export async function rssGrowth(pid: number, attack: () => Promise<void>): Promise<number> {
  const base = rssMiB(pid);
  let peak = base;
  const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(pid))), 25);
  try {
    await attack();
    await new Promise((r) => setTimeout(r, 300));
    peak = Math.max(peak, rssMiB(pid));
  } finally {
    clearInterval(sampler);
  }
  return peak - base;
}
