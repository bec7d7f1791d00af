import * as http2 from "node:http2";
import * as net from "node:net";

/**
 * Floods for long-lived streams, with Node's own HTTP/2 client.
 *
 * `reflectionFlood`: many ServerReflectionInfo streams that never read their answers
 * (`stream.pause()`) and keep writing large requests (Hardening III, item 1). What the server
 * accepted is counted from the write callbacks: an HTTP/2 client can only send what the server's
 * flow-control window lets through, so a server that stops reading stops the count.
 *
 * `holdStreams`: many calls opened and held (health Watch), for the per-address bound (item 3).
 */
/** An HTTP/2 session to the server on loopback, from `localAddress` (e.g. 127.0.0.2) if given. */
export function connectFrom(port: number, localAddress?: string): http2.ClientHttp2Session {
  return http2.connect(`http://127.0.0.1:${port}`, {
    createConnection: () => net.connect({ port, host: "127.0.0.1", ...(localAddress ? { localAddress } : {}) }),
  });
}

export const REFLECT_PATH = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo";
export const WATCH_PATH = "/grpc.health.v1.Health/Watch";

/** A gRPC envelope (flags 0, 4-byte length) around `message`. */
export function envelope(message: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}

/** ServerReflectionRequest { file_containing_symbol (4) = symbol }, enveloped. */
export function symbolRequest(symbol: Buffer | string): Buffer {
  const s = Buffer.isBuffer(symbol) ? symbol : Buffer.from(symbol);
  return envelope(Buffer.concat([Buffer.from([0x22]), varint(s.length), s]));
}

export interface FloodOptions {
  port: number;
  localAddress?: string;
  connections: number;
  streamsPerConnection: number;
  /** One request envelope, written again and again on every stream. */
  message: Buffer;
  durationMs: number;
  contentType?: string;
  path?: string;
}

export interface FloodResult {
  /** Bytes whose write completed: the server's flow control let them through. */
  acceptedBytes: number;
  /** acceptedBytes at half time: a server that stops reading has taken (nearly) all of it by then. */
  acceptedAtHalfTime: number;
  /** Streams the server ended (status or reset) before the client left. */
  endedByServer: number;
  /** grpc-status values seen (headers or trailers), with counts. */
  statuses: Map<string, number>;
}

export async function reflectionFlood(o: FloodOptions): Promise<FloodResult> {
  const sessions = Array.from({ length: o.connections }, () => connectFrom(o.port, o.localAddress));
  for (const s of sessions) s.on("error", () => undefined);
  let accepted = 0;
  let endedByServer = 0;
  let stopping = false;
  const statuses = new Map<string, number>();
  const count = (v: unknown) => {
    if (typeof v === "string") statuses.set(v, (statuses.get(v) ?? 0) + 1);
  };
  const streams: Promise<void>[] = [];
  for (const session of sessions) {
    for (let i = 0; i < o.streamsPerConnection; i++) {
      const stream = session.request({
        ":method": "POST",
        ":path": o.path ?? REFLECT_PATH,
        "content-type": o.contentType ?? "application/grpc",
        te: "trailers",
      });
      stream.on("error", () => undefined);
      stream.on("response", (h) => count(h["grpc-status"]));
      stream.on("trailers", (h) => count(h["grpc-status"]));
      stream.pause(); // never read the answers
      let closed = false;
      stream.once("close", () => {
        closed = true;
        if (!stopping) endedByServer++;
      });
      streams.push(
        (async () => {
          while (!stopping && !closed) {
            const ok = await new Promise<boolean>((resolve) => stream.write(o.message, (err) => resolve(!err)));
            if (!ok || stopping) return; // a write the client's own close completed does not count
            accepted += o.message.length;
          }
        })(),
      );
    }
  }
  await new Promise((r) => setTimeout(r, o.durationMs / 2));
  const acceptedAtHalfTime = accepted;
  await new Promise((r) => setTimeout(r, o.durationMs / 2));
  stopping = true;
  for (const s of sessions) s.destroy();
  await Promise.all(streams);
  return { acceptedBytes: accepted, acceptedAtHalfTime, endedByServer, statuses };
}

export interface HeldCalls {
  /** Calls that got response headers and are still open. */
  open(): number;
  /** Calls the server ended, by grpc-status ("reset" when reset without one). */
  ended: Map<string, number>;
  close(): void;
}

/** Opens `connections` x `perConnection` calls (request sent and finished) and holds them open. */
export function holdStreams(o: {
  port: number;
  localAddress?: string;
  connections: number;
  perConnection: number;
  path?: string;
  body?: Buffer;
  contentType?: string;
}): HeldCalls {
  const sessions = Array.from({ length: o.connections }, () => connectFrom(o.port, o.localAddress));
  let open = 0;
  const ended = new Map<string, number>();
  for (const session of sessions) {
    session.on("error", () => undefined);
    for (let i = 0; i < o.perConnection; i++) {
      const stream = session.request({
        ":method": "POST",
        ":path": o.path ?? WATCH_PATH,
        "content-type": o.contentType ?? "application/grpc",
        te: "trailers",
      });
      let status: string | undefined;
      let opened = false;
      stream.on("error", () => undefined);
      stream.on("response", (h) => {
        status = h["grpc-status"] as string | undefined;
        if (status === undefined) {
          opened = true;
          open++;
        }
      });
      stream.on("trailers", (h) => (status = h["grpc-status"] as string | undefined));
      stream.on("data", () => undefined);
      stream.once("close", () => {
        if (opened) open--;
        const k = status ?? "reset";
        ended.set(k, (ended.get(k) ?? 0) + 1);
      });
      stream.end(o.body ?? envelope(Buffer.alloc(0)));
    }
  }
  return {
    open: () => open,
    ended,
    close: () => sessions.forEach((s) => s.destroy()),
  };
}
