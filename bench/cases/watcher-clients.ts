/**
 * Bench child: holds many WatchInvalidations streams open against the service, over Node's own
 * HTTP/2 client (the lightest client: this process's CPU is not what is measured). Streams are
 * spread over local addresses 127.0.0.1, .2, ... (at most `perAddress` each: the server's
 * MAX_OPEN_STREAMS_PER_ADDRESS) and sessions of at most 100 streams (HTTP2_MAX_CONCURRENT_STREAMS).
 * IPC: {type:"open", port, n, perAddress} -> open:done {opened, ms}; {type:"count"} -> count:done
 * {messages, bytes}; {type:"close"} -> close:done; {type:"shutdown"}.
 */
import * as http2 from "node:http2";
import * as net from "node:net";

const WATCH = "/warpflow.auth.v1.TokenService/WatchInvalidations";
const EMPTY_REQUEST = Buffer.alloc(5); // one gRPC envelope around an empty WatchInvalidationsRequest
let sessions: http2.ClientHttp2Session[] = [];
let messages = 0;
let bytes = 0;

async function open(port: number, n: number, perAddress: number): Promise<number> {
  const started = performance.now();
  const ready: Promise<void>[] = [];
  for (let i = 0; i < n; i += 100) {
    const address = `127.0.0.${1 + Math.floor(i / perAddress)}`;
    const session = http2.connect(`http://127.0.0.1:${port}`, {
      createConnection: () => net.connect({ port, host: "127.0.0.1", localAddress: address }),
    });
    session.on("error", () => undefined);
    sessions.push(session);
    for (let j = i; j < Math.min(n, i + 100); j++) {
      const req = session.request({
        ":method": "POST",
        ":path": WATCH,
        "content-type": "application/grpc",
        te: "trailers",
      });
      req.end(EMPTY_REQUEST);
      req.on("error", () => undefined);
      ready.push(
        new Promise<void>((resolve, reject) => {
          let first = true;
          req.on("data", (chunk: Buffer) => {
            messages++;
            bytes += chunk.length;
            if (first) {
              first = false;
              resolve();
            }
          });
          req.on("trailers", (h: http2.IncomingHttpHeaders) =>
            reject(new Error(`watch refused: grpc-status ${String(h["grpc-status"])}`)),
          );
        }),
      );
    }
  }
  await Promise.all(ready);
  return performance.now() - started;
}

process.on("message", (m: { type: string; port?: number; n?: number; perAddress?: number }) => {
  const reply = (msg: Record<string, unknown>) => process.send!(msg);
  if (m.type === "open")
    open(m.port!, m.n!, m.perAddress ?? 100).then(
      (ms) => reply({ type: "open:done", opened: m.n, ms }),
      (err: unknown) => reply({ type: "error", message: String(err) }),
    );
  else if (m.type === "count") reply({ type: "count:done", messages, bytes });
  else if (m.type === "close") {
    for (const s of sessions) s.destroy();
    sessions = [];
    setTimeout(() => reply({ type: "close:done" }), 200);
  } else if (m.type === "shutdown") process.exit(0);
});
process.on("disconnect", () => process.exit(0));
process.send!({ type: "ready" });
