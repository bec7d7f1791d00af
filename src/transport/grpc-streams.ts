import { once } from "node:events";
import * as grpc from "@grpc/grpc-js";
import { ConnectError } from "@connectrpc/connect";
import { mapError } from "./error-mapping.js";
import { methodDefinition } from "./grpc-server.js";
import { MALFORMED, malformedRequest } from "./malformed-request.js";
import type { ServedService } from "./service-handlers.js";

type AnyCall = grpc.ServerUnaryCall<unknown, unknown> & grpc.ServerWritableStream<unknown, unknown>;

/** The call's abort signal: aborted when the client cancels or the connection goes away. */
function signalOf(call: { on(event: "cancelled", cb: () => void): unknown }): AbortSignal {
  const ac = new AbortController();
  call.on("cancelled", () => ac.abort());
  return ac.signal;
}

const statusOf = (err: unknown): Partial<grpc.StatusObject> => {
  const mapped = mapError(err);
  return { code: mapped.code as number as grpc.status, details: mapped.message };
};

/** Writes every message of `out` to a grpc-js stream (with backpressure), then ends it with OK or the mapped error. */
async function pump(call: grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>, out: AsyncIterable<unknown>, signal: AbortSignal) {
  try {
    for await (const msg of out) {
      if (signal.aborted) return;
      if (!call.write(msg)) await once(call, "drain", { signal });
    }
    if (!signal.aborted) call.end();
  } catch (err) {
    if (!signal.aborted) call.emit("error", statusOf(err));
  }
}

/** The client's messages of a bidi call; ends when the client half-closes or cancels. */
async function* requestsOf(call: grpc.ServerDuplexStream<unknown, unknown>, signal: AbortSignal): AsyncIterable<unknown> {
  signal.addEventListener("abort", () => call.destroy(), { once: true }); // a cancelled call ends the input too
  try {
    // destroyOnReturn false: the default destroys the duplex at the end of the input, and with it
    // the response side before its status is sent.
    for await (const msg of call.iterator({ destroyOnReturn: false })) {
      if (signal.aborted) return;
      if (msg === MALFORMED) throw malformedRequest();
      yield msg;
    }
  } catch (err) {
    if (err instanceof ConnectError) throw err; // a malformed message ends the call with its status
    // a cancelled call's readable errors; the handler sees the end of its input
  }
}

/**
 * Serves a protobuf-es service with unary, server-streaming and bidi methods on a @grpc/grpc-js
 * server, encoding with protobuf-es: the built-in health and reflection services. The method table
 * comes from the generated descriptor; failures go through the one error mapping.
 */
export function addGrpcStreamingService(server: grpc.Server, { service, handlers }: ServedService): void {
  const definition: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  const implementation: grpc.UntypedServiceImplementation = {};
  for (const method of service.methods) {
    if (method.methodKind === "client_streaming") throw new Error(`${method.name}: client streaming is not supported`);
    definition[method.localName] = methodDefinition(service, method);
    const h = handlers[method.localName] as (input: unknown, signal: AbortSignal) => unknown;
    if (method.methodKind === "unary") {
      implementation[method.localName] = ((call: AnyCall, callback: grpc.sendUnaryData<unknown>) => {
        if (call.request === MALFORMED) return callback(statusOf(malformedRequest()));
        (h(call.request, signalOf(call)) as Promise<unknown>).then(
          (res) => callback(null, res),
          (err: unknown) => callback(statusOf(err)),
        );
      }) as grpc.handleUnaryCall<unknown, unknown>;
    } else if (method.methodKind === "server_streaming") {
      implementation[method.localName] = ((call: grpc.ServerWritableStream<unknown, unknown>) => {
        if (call.request === MALFORMED) return call.emit("error", statusOf(malformedRequest()));
        const signal = signalOf(call);
        void pump(call, h(call.request, signal) as AsyncIterable<unknown>, signal);
      }) as grpc.handleServerStreamingCall<unknown, unknown>;
    } else {
      implementation[method.localName] = ((call: grpc.ServerDuplexStream<unknown, unknown>) => {
        const signal = signalOf(call);
        void pump(call, h(requestsOf(call, signal), signal) as AsyncIterable<unknown>, signal);
      }) as grpc.handleBidiStreamingCall<unknown, unknown>;
    }
  }
  server.addService(definition as grpc.ServiceDefinition, implementation);
}
