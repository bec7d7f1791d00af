import * as net from "node:net";

/**
 * Sends raw bytes to a server and collects whatever comes back until the server closes the
 * connection or `timeoutMs` passes: for malformed-protocol tests that no client library can send.
 */
export interface RawExchange {
  /** Everything the server sent. */
  data: Buffer;
  /** The server ended or reset the connection (false: still open at the timeout). */
  closed: boolean;
  /** A socket error, e.g. ECONNRESET. */
  error?: string | undefined;
}

/** `opts.end`: half-close (FIN) after the last chunk, so the server sees the client will send no more. */
export function rawExchange(
  port: number,
  chunks: (Buffer | string)[],
  timeoutMs = 2000,
  opts: { end?: boolean } = {},
): Promise<RawExchange> {
  return new Promise((resolve) => {
    const received: Buffer[] = [];
    let error: string | undefined;
    let done = false;
    const socket = net.connect({ port, host: "127.0.0.1" }, () => {
      for (const c of chunks) {
        if (!socket.destroyed) socket.write(c);
      }
      if (opts.end && !socket.destroyed) socket.end();
    });
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ data: Buffer.concat(received), closed, error });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.on("data", (d) => received.push(d));
    socket.on("error", (e) => {
      error = (e as NodeJS.ErrnoException).code ?? e.message;
    });
    socket.on("close", () => finish(true));
    // With `end`, our own FIN is sent: wait for the server's answer and close, not just its FIN.
    socket.on("end", () => (opts.end ? undefined : finish(true)));
  });
}

/** An HTTP/2 frame: 9-byte header (length, type, flags, stream id) and payload. */
export function h2Frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header.writeUInt8(type, 3);
  header.writeUInt8(flags, 4);
  header.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([header, payload]);
}

/** One HTTP/2 frame as received. */
export interface H2ReadFrame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

/**
 * The one HTTP/2 frame parser: splits `buf` into its complete frames; `rest` is the incomplete tail
 * (keep it and prepend the next chunk).
 */
export function parseH2Frames(buf: Buffer): { frames: H2ReadFrame[]; rest: Buffer } {
  const frames: H2ReadFrame[] = [];
  let at = 0;
  while (buf.length - at >= 9) {
    const len = buf.readUIntBE(at, 3);
    if (buf.length - at < 9 + len) break;
    frames.push({
      type: buf[at + 3]!,
      flags: buf[at + 4]!,
      streamId: buf.readUInt32BE(at + 5) & 0x7fffffff,
      payload: buf.subarray(at + 9, at + 9 + len),
    });
    at += 9 + len;
  }
  return { frames, rest: buf.subarray(at) };
}

/**
 * A gRPC / gRPC-Web / Connect-streaming message envelope: flags byte 0, 4-byte big-endian length,
 * then the message. The one copy for tests that frame a message by hand.
 */
export function lengthPrefixed(msg: Uint8Array, flags = 0): Buffer {
  const out = Buffer.alloc(5 + msg.length);
  out.writeUInt8(flags, 0);
  out.writeUInt32BE(msg.length, 1);
  out.set(msg, 5);
  return out;
}

export const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
/** Frame types. */
export const H2 = {
  DATA: 0,
  HEADERS: 1,
  PRIORITY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PING: 6,
  GOAWAY: 7,
  WINDOW_UPDATE: 8,
} as const;

/** A raw connection kept open: what the server sent so far, and when it closed. */
export interface HeldSocket {
  socket: net.Socket;
  /** Resolves once connected (write more only after it, so `first` goes out first). */
  connected: Promise<void>;
  /** Everything received so far (latin1). */
  received(): string;
  /** Resolves with the milliseconds from the connect call to the close. */
  closed: Promise<number>;
  /** Resolves with what was received once it satisfies `done`, or at the close. */
  until(done: (data: string) => boolean): Promise<string>;
}

/**
 * The one raw HTTP/1.1 (or TLS, or HTTP/2) exchange kept open: connects, sends `first`, records
 * every byte back. For slow or unfinished requests no client library sends.
 */
export function holdRaw(port: number, first: string | Buffer, opts: { localAddress?: string } = {}): HeldSocket {
  const started = Date.now();
  const socket = net.connect({
    port,
    host: "127.0.0.1",
    ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
  });
  let data = "";
  const waiters: (() => void)[] = [];
  socket.setEncoding("latin1");
  socket.on("data", (d: string) => {
    data += d;
    for (const w of [...waiters]) w();
  });
  socket.on("error", () => undefined);
  const connected = new Promise<void>((resolve) =>
    socket.once("connect", () => {
      socket.write(first);
      resolve();
    }),
  );
  const closed = new Promise<number>((resolve) => socket.once("close", () => resolve(Date.now() - started)));
  return {
    socket,
    connected,
    received: () => data,
    closed,
    until: (done) =>
      new Promise<string>((resolve) => {
        const check = () => {
          if (!done(data)) return;
          waiters.splice(waiters.indexOf(check), 1);
          resolve(data);
        };
        waiters.push(check);
        void closed.then(() => resolve(data));
        check();
      }),
  };
}

/** An HTTP/1.1 response is complete: status line, headers, and Content-Length bytes of body (0 without it). */
export function http1ResponseComplete(data: string): boolean {
  const split = data.indexOf("\r\n\r\n");
  if (split < 0 || !/^HTTP\/1\.1 \d{3}/.test(data)) return false;
  const length = /\r\ncontent-length: *(\d+)/i.exec(data.slice(0, split));
  return data.length - split - 4 >= Number(length?.[1] ?? 0);
}

/** The status code and body of a raw HTTP/1.1 response (status 0 when there was none). */
export function parseHttp1Response(data: string): { status: number; body: string } {
  const split = data.indexOf("\r\n\r\n");
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0), body: split < 0 ? "" : data.slice(split + 4) };
}
