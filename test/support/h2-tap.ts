import * as net from "node:net";
import { H2, parseH2Frames } from "./raw-socket.js";

/** One client connection through the tap: when it opened, the GOAWAYs the server sent, when it closed. */
export interface TappedConnection {
  openedAt: number;
  goaways: { at: number; errorCode: number; lastStreamId: number }[];
  closedAt?: number;
  /** The client's DATA frames that start with a gRPC message flagged compressed (its first byte 1). */
  compressedMessages: number;
}

export interface H2Tap {
  /** Point clients here (127.0.0.1). */
  port: number;
  /** Every connection accepted so far, in order. */
  connections: TappedConnection[];
  close(): Promise<void>;
}

/**
 * A TCP pass-through to an HTTP/2 server on 127.0.0.1:`targetPort` that reads the server's frames
 * on their way to the client: for tests of what a real client library (grpc-js) is sent, e.g.
 * GOAWAY, and how many connections it opens. Bytes are forwarded unchanged.
 */
export async function startH2Tap(targetPort: number): Promise<H2Tap> {
  const connections: TappedConnection[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const conn: TappedConnection = { openedAt: Date.now(), goaways: [], compressedMessages: 0 };
    connections.push(conn);
    const upstream = net.connect(targetPort, "127.0.0.1");
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("error", () => {});
      s.once("close", () => sockets.delete(s));
    }
    let pending: Buffer = Buffer.alloc(0);
    upstream.on("data", (chunk: Buffer) => {
      // The server speaks first with SETTINGS (no preface), so its bytes are frames from the start.
      const { frames, rest } = parseH2Frames(pending.length ? Buffer.concat([pending, chunk]) : chunk);
      pending = Buffer.from(rest);
      for (const f of frames) {
        if (f.type !== H2.GOAWAY) continue;
        const lastStreamId = f.payload.readUInt32BE(0) & 0x7fffffff;
        conn.goaways.push({ at: Date.now(), lastStreamId, errorCode: f.payload.readUInt32BE(4) });
      }
    });
    let fromClient: Buffer = Buffer.alloc(0);
    let prefaceLeft = 24; // the client's connection preface comes before its frames
    client.on("data", (chunk: Buffer) => {
      let bytes = chunk;
      if (prefaceLeft > 0) {
        const skip = Math.min(prefaceLeft, bytes.length);
        prefaceLeft -= skip;
        bytes = bytes.subarray(skip);
      }
      const { frames, rest } = parseH2Frames(fromClient.length ? Buffer.concat([fromClient, bytes]) : bytes);
      fromClient = Buffer.from(rest);
      for (const f of frames) if (f.type === H2.DATA && f.payload[0] === 1) conn.compressedMessages++;
    });
    client.pipe(upstream);
    upstream.pipe(client);
    const closed = () => {
      conn.closedAt ??= Date.now();
      client.destroy();
      upstream.destroy();
    };
    client.once("close", closed);
    upstream.once("close", closed);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    connections,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
