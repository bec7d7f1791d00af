import * as net from "node:net";
import * as tls from "node:tls";
import type * as http from "node:http";
import type { Duplex } from "node:stream";

/**
 * One port, every protocol. Plaintext: the first bytes decide; an HTTP/2 connection preface
 * ("PRI * HTTP/2.0") goes to the gRPC server (h2c: grpcurl -plaintext, grpc-js clients), anything
 * else to the HTTP/1.1 server (curl, Connect JSON, REST, /metrics). TLS: ALPN decides (h2 -> gRPC,
 * http/1.1 -> HTTP/1.1). Connect-protocol clients use HTTP/1.1 on this port (see README).
 */
export interface Demux {
  h2(socket: Duplex): void;
  http1: http.Server;
}

const PREFACE = Buffer.from("PRI * HTTP/2.0");
const MAX_SNIFF_MS = 10_000;

export function createPlainListener(demux: Demux): net.Server {
  const server = net.createServer({ noDelay: true }, (socket) => {
    let buffered: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => socket.destroy(), MAX_SNIFF_MS);
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

export function createTlsListener(demux: Demux, files: TlsFiles): tls.Server {
  const server = tls.createServer({
    cert: files.cert,
    key: files.key,
    ca: files.ca,
    requestCert: files.ca !== undefined,
    rejectUnauthorized: files.ca !== undefined && !files.optionalClientCert,
    ALPNProtocols: ["h2", "http/1.1"],
    minVersion: "TLSv1.2",
  });
  server.on("secureConnection", (socket: tls.TLSSocket) => {
    if (socket.alpnProtocol === "h2") demux.h2(socket);
    else demux.http1.emit("connection", socket);
  });
  server.on("tlsClientError", () => {
    /* a failed handshake (e.g. no client certificate under mTLS) only closes that socket */
  });
  return server;
}
