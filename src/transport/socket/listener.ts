// One port, every protocol. Every connection is first admitted by the connection guard (per-address
// and total bounds). Plaintext: the first bytes decide; an HTTP/2 connection preface
// ("PRI * HTTP/2.0") goes to the HTTP/2 server (h2c), anything else to the HTTP/1.1 server. TLS:
// ALPN decides (h2 -> HTTP/2, http/1.1 or none -> HTTP/1.1). Which protocol a stream speaks (gRPC,
// gRPC-Web, Connect, REST) is decided per request by the servers behind (see server.ts).
import * as net from "node:net";
import * as tls from "node:tls";
import type * as http from "node:http";
import type { Duplex } from "node:stream";
import type { ConnectionGuard } from "./connection-guard.js";

export interface Demux {
  h2(socket: Duplex): void;
  http1: http.Server;
}

const PREFACE = Buffer.from("PRI * HTTP/2.0");

export function createPlainListener(demux: Demux, guard: ConnectionGuard, sniffTimeoutMs: number): net.Server {
  const server = net.createServer({ noDelay: true }, (socket) => {
    if (!guard.admit(socket)) return;
    let buffered: Buffer = Buffer.alloc(0);
    // A client that connects and sends nothing (or too little to decide) is closed.
    const timer = setTimeout(() => socket.destroy(), sniffTimeoutMs);
    timer.unref();
    const onData = (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      const n = Math.min(buffered.length, PREFACE.length);
      const isH2 = buffered.subarray(0, n).equals(PREFACE.subarray(0, n));
      if (isH2 && buffered.length < PREFACE.length) return; // need more bytes to decide
      socket.off("data", onData);
      clearTimeout(timer);
      socket.pause();
      socket.unshift(buffered);
      if (isH2) {
        demux.h2(socket); // http2 reads the unshifted preface itself (socket.readableLength)
      } else {
        demux.http1.emit("connection", socket);
        socket.resume();
      }
    };
    socket.on("data", onData);
    socket.on("error", () => socket.destroy());
    socket.once("close", () => clearTimeout(timer));
  });
  return server;
}

export interface TlsFiles {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer | undefined;
  /** Ask for a client certificate but let the handshake finish without one (checked per RPC). */
  optionalClientCert?: boolean;
}

export function createTlsListener(
  demux: Demux,
  files: TlsFiles,
  guard: ConnectionGuard,
  handshakeTimeoutMs: number,
): tls.Server {
  const server = tls.createServer({
    cert: files.cert,
    key: files.key,
    ca: files.ca,
    requestCert: files.ca !== undefined,
    rejectUnauthorized: files.ca !== undefined && !files.optionalClientCert,
    ALPNProtocols: ["h2", "http/1.1"],
    minVersion: "TLSv1.2",
    handshakeTimeout: handshakeTimeoutMs,
  });
  // The raw TCP socket is admitted before the handshake costs anything.
  server.prependListener("connection", (socket: net.Socket) => {
    guard.admit(socket);
  });
  server.on("secureConnection", (socket: tls.TLSSocket) => {
    if (socket.alpnProtocol === "h2") demux.h2(socket);
    else demux.http1.emit("connection", socket);
  });
  // A failed handshake (no client certificate under mTLS, garbage, or none finished within
  // handshakeTimeout) closes that socket. Node emits the error but leaves the socket open (with or
  // without a listener): a client that connects and sends nothing, or half a ClientHello, would
  // hold it for good.
  server.on("tlsClientError", (_err, socket) => socket.destroy());
  return server;
}
