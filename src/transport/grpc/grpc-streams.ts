import * as grpc from "@grpc/grpc-js";
import { Code, ConnectError } from "@connectrpc/connect";
import { mapError } from "../protocol/error-mapping.js";
import { methodDefinition } from "./grpc-server.js";
import { MALFORMED, malformedRequest } from "../protocol/malformed-request.js";
import type { ServedService } from "../protocol/served-service.js";

type AnyCall = grpc.ServerUnaryCall<unknown, unknown> & grpc.ServerWritableStream<unknown, unknown>;

/** The call's abort signal: aborted when the client cancels or the connection goes away. */
export function signalOf(call: { on(event: "cancelled", cb: () => void): unknown }): AbortSignal {
  const ac = new AbortController();
  call.on("cancelled", () => ac.abort());
  return ac.signal;
}

export const statusOf = (err: unknown): Partial<grpc.StatusObject> => {
  const mapped = mapError(err);
  return { code: mapped.code as number as grpc.status, details: mapped.message };
};

/** A request message over the method's size bound (its bytes are not decoded). */
const TOO_LARGE = Symbol("request message too large");
const tooLarge = (max: number) => new ConnectError(`request message larger than ${max} bytes`, Code.ResourceExhausted);

/** Resolves when grpc-js has handed the message to HTTP/2 (within the client's flow-control window). */
function written(
  call: { write(msg: unknown, cb: () => void): unknown },
  msg: unknown,
  signal: AbortSignal,
): Promise<void> {
  return new Promise<void>((resolve) => {
    // A cancelled call never calls back: the abort resolves instead (pump then stops).
    const onAbort = () => resolve();
    signal.addEventListener("abort", onAbort, { once: true });
    call.write(msg, () => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    });
  });
}

/**
 * Writes every message of `out` to a grpc-js stream, then ends it with OK or the mapped error. One
 * message at a time: the next is asked of `out` (and so, on a bidi call, the next request is read)
 * only when the previous one has gone out. (grpc-js's own write() says "full" only after 16
 * buffered messages whatever their size: a client that never read its answers made it hold 16
 * answers per stream, and read on.)
 */
export async function pump(
  call: grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>,
  out: AsyncIterable<unknown>,
  signal: AbortSignal,
) {
  try {
    for await (const msg of out) {
      if (signal.aborted) return;
      await written(call, msg, signal);
      if (signal.aborted) return;
    }
    if (!signal.aborted) call.end();
  } catch (err) {
    if (!signal.aborted) call.emit("error", statusOf(err));
  }
}

/** The client's messages of a bidi call; ends when the client half-closes or cancels. */
async function* requestsOf(
  call: grpc.ServerDuplexStream<unknown, unknown>,
  signal: AbortSignal,
  maxBytes: number,
): AsyncIterable<unknown> {
  signal.addEventListener("abort", () => call.destroy(), { once: true }); // a cancelled call ends the input too
  // Read ahead one message, not Node's object-mode default of 16: the next request is read when the
  // handler asks for it (after the previous answer went out), so input stops with the output.
  const state = (call as unknown as { _readableState?: { highWaterMark: number } })._readableState;
  if (state) state.highWaterMark = 1;
  try {
    // destroyOnReturn false: the default destroys the duplex at the end of the input, and with it
    // the response side before its status is sent.
    for await (const msg of call.iterator({ destroyOnReturn: false })) {
      if (signal.aborted) return;
      if (msg === MALFORMED) throw malformedRequest();
      if (msg === TOO_LARGE) throw tooLarge(maxBytes);
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
 * comes from the generated descriptor; failures go through the one error mapping. A request message
 * over `maxMessageBytes` is not decoded and ends the call with RESOURCE_EXHAUSTED.
 */
export function addGrpcStreamingService(
  server: grpc.Server,
  { service, handlers }: ServedService,
  maxMessageBytes: number,
): void {
  const definition: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  const implementation: grpc.UntypedServiceImplementation = {};
  for (const method of service.methods) {
    if (method.methodKind === "client_streaming") throw new Error(`${method.name}: client streaming is not supported`);
    const def = methodDefinition(service, method);
    definition[method.localName] = {
      ...def,
      requestDeserialize: (b: Buffer) => (b.length > maxMessageBytes ? TOO_LARGE : def.requestDeserialize(b)),
    };
    const h = handlers[method.localName] as (input: unknown, signal: AbortSignal, peer: string) => unknown;
    if (method.methodKind === "unary") {
      implementation[method.localName] = ((call: AnyCall, callback: grpc.sendUnaryData<unknown>) => {
        if (call.request === MALFORMED) return callback(statusOf(malformedRequest()));
        if (call.request === TOO_LARGE) return callback(statusOf(tooLarge(maxMessageBytes)));
        (h(call.request, signalOf(call), call.getPeer()) as Promise<unknown>).then(
          (res) => callback(null, res),
          (err: unknown) => callback(statusOf(err)),
        );
      }) as grpc.handleUnaryCall<unknown, unknown>;
    } else if (method.methodKind === "server_streaming") {
      implementation[method.localName] = ((call: grpc.ServerWritableStream<unknown, unknown>) => {
        if (call.request === MALFORMED) return call.emit("error", statusOf(malformedRequest()));
        if (call.request === TOO_LARGE) return call.emit("error", statusOf(tooLarge(maxMessageBytes)));
        const signal = signalOf(call);
        void pump(call, h(call.request, signal, call.getPeer()) as AsyncIterable<unknown>, signal);
      }) as grpc.handleServerStreamingCall<unknown, unknown>;
    } else {
      implementation[method.localName] = ((call: grpc.ServerDuplexStream<unknown, unknown>) => {
        const signal = signalOf(call);
        void pump(
          call,
          h(requestsOf(call, signal, maxMessageBytes), signal, call.getPeer()) as AsyncIterable<unknown>,
          signal,
        );
      }) as grpc.handleBidiStreamingCall<unknown, unknown>;
    }
  }
  server.addService(definition as grpc.ServiceDefinition, implementation);
}
