/**
 * The floor: a plain @grpc/grpc-js server whose one unary method does nothing and answers a fixed
 * response (bytes of the same size as an API-key Introspect answer). Messages pass through as
 * Buffers (no protobuf work at all), so this is the platform's own cost per call. FLOOR_HTTP=1:
 * the HTTP/1.1 floor instead (a no-op node:http handler).
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as grpc from "@grpc/grpc-js";
import { createConnectionGuard } from "../src/transport/socket/connection-guard.js";
import { createPlainListener } from "../src/transport/socket/listener.js";

import { FLOOR_PATH } from "./lib/constants.js";

const response = Buffer.from(process.env.FLOOR_RESPONSE_HEX ?? "", "hex");
const server = new grpc.Server();
const identity = (b: Buffer) => b;
server.addService(
  {
    noop: {
      path: FLOOR_PATH,
      requestStream: false,
      responseStream: false,
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: identity,
      responseDeserialize: identity,
    },
  } as grpc.ServiceDefinition,
  {
    noop: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) =>
      callback(null, response),
  },
);
const fail = (err: Error) => {
  process.send!({ type: "error", message: err.message });
  process.exit(1);
};
if (process.env.FLOOR_HTTP === "1") {
  // The HTTP/1.1 floor: a no-op node:http handler answering 200 with an empty body, as /authz
  // does (the authorize case's reference).
  const plain = http.createServer({ maxHeaderSize: 16 * 1024, requestTimeout: 30_000 }, (_req, res) => {
    res.writeHead(200, { "content-length": "0" });
    res.end();
  });
  plain.on("error", fail);
  plain.listen(0, "127.0.0.1", () => process.send!({ type: "ready", port: (plain.address() as AddressInfo).port }));
} else if (process.env.FLOOR_LISTENER === "service") {
  // The same no-op, but fed by the service's one-port listener (preface sniffing + connection
  // injection), to separate what that listener costs per call from what Introspect costs.
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const guard = createConnectionGuard({ maxPerAddress: 0, maxTotal: 100_000 });
  const listener = createPlainListener(
    { h2: (s) => injector.injectConnection(s), http1: http.createServer() },
    guard,
    10_000,
  );
  listener.on("error", fail);
  listener.listen(0, "127.0.0.1", () =>
    process.send!({ type: "ready", port: (listener.address() as AddressInfo).port }),
  );
} else {
  server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err) fail(err);
    else process.send!({ type: "ready", port });
  });
}
process.on("message", (m: { type: string }) => {
  if (m.type === "shutdown") server.tryShutdown(() => process.exit(0));
});
process.on("disconnect", () => process.exit(0));
