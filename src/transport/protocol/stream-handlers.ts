import type { DescMethodServerStreaming, DescService, MessageShape } from "@bufbuild/protobuf";
import type { CallContext } from "./unary-handlers.js";

/** A server-streaming call's context: the unary one, plus a way to end the call at once. */
export interface StreamCallContext extends CallContext {
  signal: AbortSignal;
  /**
   * Ends the call now, without a status: the stream is reset (HTTP/2) or its connection closed
   * (HTTP/1.1). For a reader too slow to take even the status (its flow-control window is full).
   */
  hangUp(): void;
}

type StreamMethods<S extends DescService> = {
  [K in keyof S["method"] as S["method"][K] extends DescMethodServerStreaming ? K : never]: S["method"][K];
};

/** A transport-neutral implementation of every server-streaming method of a service. */
export type StreamHandlers<S extends DescService> = {
  [K in keyof StreamMethods<S>]: StreamMethods<S>[K] extends DescMethodServerStreaming<infer I, infer O>
    ? (req: MessageShape<I>, ctx: StreamCallContext) => AsyncIterable<MessageShape<O>>
    : never;
};
