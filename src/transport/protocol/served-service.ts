// Transport-neutral handlers for the built-in services (health, reflection): unary, server
// streaming and bidi methods, each told only the call's abort signal. Served on the grpc-js
// server by grpc/grpc-streams.ts and on the connect-node router by connect/connect-builtins.ts, so both
// paths run the same code. (TokenService keeps its own UnaryHandlers with the call context.)
import type {
  DescMethodBiDiStreaming,
  DescMethodServerStreaming,
  DescMethodUnary,
  DescService,
  MessageShape,
} from "@bufbuild/protobuf";

type Handler<M> =
  M extends DescMethodUnary<infer I, infer O>
    ? (req: MessageShape<I>, signal: AbortSignal) => Promise<MessageShape<O>>
    : M extends DescMethodServerStreaming<infer I, infer O>
      ? (req: MessageShape<I>, signal: AbortSignal) => AsyncIterable<MessageShape<O>>
      : M extends DescMethodBiDiStreaming<infer I, infer O>
        ? (reqs: AsyncIterable<MessageShape<I>>, signal: AbortSignal) => AsyncIterable<MessageShape<O>>
        : never;

export type ServiceHandlers<S extends DescService> = { [K in keyof S["method"]]: Handler<S["method"][K]> };

/** A service and its handlers, ready to be served by either transport. */
export interface ServedService {
  service: DescService;
  /** `peer` ("ip:port") is passed for the open-stream bound (stream-limit.ts); handlers ignore it. */
  handlers: Record<string, (input: never, signal: AbortSignal, peer?: string) => unknown>;
}

export function served<S extends DescService>(service: S, handlers: ServiceHandlers<S>): ServedService {
  return { service, handlers: handlers as unknown as ServedService["handlers"] };
}
