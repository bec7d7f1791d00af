// A server-streaming method served by callbacks instead of an async iterable: the transport hands
// the handler a sink, the handler pushes messages into it while it has room. One open watch then
// holds no generator, promise or AbortSignal of ours (bench/tools/watcher-heap.ts; docs/performance.md,
// session 33). The AsyncIterable form (stream-handlers.ts) stays the reference for Connect and gRPC-Web.
import type { DescMethodServerStreaming, DescService, MessageShape } from "@bufbuild/protobuf";
import type { CallContext } from "./unary-handlers.js";

/** The transport's side of one pushed stream. */
export interface StreamSink<O> {
  /** One message; false when the transport's buffer is full: nothing more until the handle's resume(). */
  send(msg: O): boolean;
  /** The reader is too slow: the transport hangs up (logged RESOURCE_EXHAUSTED). */
  evicted(err: unknown): void;
  /** The stream ends: OK (err undefined) or with the mapped error. */
  end(err?: unknown): void;
}

/** What the handler gives back: the transport tells it about room and about the client leaving. */
export interface StreamHandle {
  resume(): void;
  close(): void;
}

/** A pushed stream's context: the unary one, and `onClose` for what must be undone when the stream closes. */
export interface PushCallContext extends CallContext {
  /**
   * Called once with this context when the stream is gone (whatever the reason). Set by a wrapper
   * (the stream bound, builtin/stream-limit.ts), one shared function for every call: its per-call
   * state is `place`, not a closure (~100 bytes per open watch).
   */
  onClose?: ((ctx: PushCallContext) => void) | undefined;
  /** The stream bound's place: the address the call is counted under (null: counted in all only). */
  place?: string | null | undefined;
}

type StreamMethods<S extends DescService> = {
  [K in keyof S["method"] as S["method"][K] extends DescMethodServerStreaming ? K : never]: S["method"][K];
};

/** Pushed forms of a service's server-streaming methods (throw to refuse the call before any message). */
export type PushStreamHandlers<S extends DescService> = {
  [K in keyof StreamMethods<S>]?: StreamMethods<S>[K] extends DescMethodServerStreaming<infer I, infer O>
    ? (req: MessageShape<I>, ctx: PushCallContext, sink: StreamSink<MessageShape<O>>) => StreamHandle
    : never;
};

/** Stream handlers may carry pushed forms under this key (the direct gRPC path uses them). */
export const PUSH_STREAMS: unique symbol = Symbol("warpflow.pushStreams");
export type WithPushStreams<S extends DescService> = { [PUSH_STREAMS]?: PushStreamHandlers<S> };
