import type { DescService } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { Code } from "@connectrpc/connect";
import type { Http2Stream } from "node:http2";
import { constants as h2 } from "node:http2";
import type { CallObserver } from "../protocol/call-observer.js";
import { mapError, OK } from "../protocol/error-mapping.js";
import { MALFORMED, malformedRequest } from "../protocol/malformed-request.js";
import type { StreamCallContext, StreamHandlers } from "../protocol/stream-handlers.js";
import { GrpcCallContext, methodDefinition } from "./grpc-server.js";
import { signalOf, statusOf } from "./grpc-streams.js";

/**
 * The HTTP/2 stream under a grpc-js server call. grpc-js exposes no way to reset a call whose
 * output is stuck behind a full flow-control window (its status queues behind the data), so this
 * walks its private chain (ServerWritableStreamImpl.call -> ServerInterceptingCall.nextCall ... ->
 * BaseServerInterceptingCall.stream), pinned with @grpc/grpc-js. Undefined if the shape moved
 * (test/e2e/watch-limits.test.ts fails then).
 */
function http2StreamOf(call: unknown): Http2Stream | undefined {
  let node = (call as { call?: unknown }).call;
  for (let depth = 0; depth < 8 && node && typeof node === "object"; depth++) {
    const stream = (node as { stream?: Partial<Http2Stream> }).stream;
    if (stream && typeof stream.close === "function") return stream as Http2Stream;
    node = (node as { nextCall?: unknown }).nextCall;
  }
  return undefined;
}

/** Resolves on the writable's 'drain' (or when the call is cancelled: nothing will drain then). */
function drained(call: grpc.ServerWritableStream<unknown, unknown>, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      signal.removeEventListener("abort", done);
      call.off("drain", done);
      resolve();
    };
    signal.addEventListener("abort", done, { once: true });
    call.once("drain", done);
  });
}

/**
 * Writes a server stream's messages with the writable's own backpressure: on while grpc-js's
 * buffer takes them (16 messages), then waits for 'drain'. (grpc-streams.ts pump waits for each
 * write's callback instead, one message per event-loop turn: a burst of invalidations then left
 * reading watchers hundreds of events behind.) A reader that stops reading stops the pulls, so
 * the hub sees it fall behind.
 */
async function pumpWithBackpressure(
  call: grpc.ServerWritableStream<unknown, unknown>,
  out: AsyncIterable<unknown>,
  signal: AbortSignal,
): Promise<void> {
  try {
    for await (const msg of out) {
      if (signal.aborted) return;
      if (!call.write(msg)) await drained(call, signal);
      if (signal.aborted) return;
    }
    if (!signal.aborted) call.end();
  } catch (err) {
    if (!signal.aborted) call.emit("error", statusOf(err));
  }
}

class GrpcStreamCallContext extends GrpcCallContext implements StreamCallContext {
  constructor(
    call: grpc.ServerWritableStream<unknown, unknown>,
    readonly signal: AbortSignal,
  ) {
    super(call);
  }

  hangUp(): void {
    const stream = http2StreamOf(this.call);
    if (stream) {
      if (!stream.destroyed) stream.close(h2.NGHTTP2_CANCEL);
    } else this.call.emit("error", { code: grpc.status.RESOURCE_EXHAUSTED, details: "reader too slow" });
  }
}

/**
 * The server-streaming methods of a protobuf-es service with call contexts (WatchInvalidations) on
 * the grpc-js server, beside addProtobufService's unary ones. One message is written at a time
 * (grpc-streams.ts pump); the call ends in the shared observer and error mapping.
 */
export function addProtobufStreams<S extends DescService>(
  server: grpc.Server,
  service: S,
  handlers: StreamHandlers<S>,
  observer: CallObserver,
): void {
  const definition: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  const implementation: grpc.UntypedServiceImplementation = {};
  for (const method of service.methods) {
    if (method.methodKind !== "server_streaming") continue;
    definition[method.localName] = methodDefinition(service, method);
    const handler = (handlers as Record<string, (req: unknown, ctx: StreamCallContext) => AsyncIterable<unknown>>)[
      method.localName
    ]!;
    const name = method.name;
    implementation[method.localName] = ((call: grpc.ServerWritableStream<unknown, unknown>) => {
      const start = process.hrtime.bigint();
      const signal = signalOf(call);
      const ctx = new GrpcStreamCallContext(call, signal);
      async function* run(): AsyncIterable<unknown> {
        let observed = false;
        try {
          if (call.request === MALFORMED) throw malformedRequest();
          yield* handler(call.request, ctx);
          observed = true;
          observer.end(name, signal.aborted ? Code.Canceled : OK, start, ctx);
        } catch (err) {
          const mapped = mapError(err);
          observed = true;
          observer.end(name, mapped.code, start, ctx, mapped.unexpected ? err : mapped.message);
          throw err;
        } finally {
          // The usual end of a watch: the client cancels (or goes away, or was hung up on).
          if (!observed) observer.end(name, Code.Canceled, start, ctx);
        }
      }
      void pumpWithBackpressure(call, run(), signal);
    }) as grpc.handleServerStreamingCall<unknown, unknown>;
  }
  if (Object.keys(definition).length > 0) server.addService(definition as grpc.ServiceDefinition, implementation);
}
