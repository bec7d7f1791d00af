import type {
  DescMethodBiDiStreaming,
  DescMethodServerStreaming,
  DescMethodUnary,
  DescService,
  MessageShape,
} from "@bufbuild/protobuf";
import type { ConnectRouter, HandlerContext } from "@connectrpc/connect";
import { malformedBodyKey } from "../connect/connect-adapter.js";
import { peerAddressKey } from "../connect/connect-routes.js";
import { malformedRequest } from "./malformed-request.js";

/**
 * Transport-neutral handlers for the built-in services (health, reflection): unary, server
 * streaming and bidi methods, each told only the call's abort signal. Served on the grpc-js
 * server by grpc-streams.ts and on the connect-node router by registerConnectHandlers, so both
 * paths run the same code. (TokenService keeps its own UnaryHandlers with the call context.)
 */
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

/** `readMaxBytes`: the largest request message of these methods (connect-es refuses a larger one). */
export function registerConnectHandlers(router: ConnectRouter, { service, handlers }: ServedService, readMaxBytes?: number): void {
  const impl: Record<string, unknown> = {};
  for (const method of service.methods) {
    const h = handlers[method.localName]!;
    impl[method.localName] = (input: never, ctx: HandlerContext) => {
      // A binary body that did not decode (connect-adapter.ts) is refused, as for TokenService.
      const malformed = ctx.values.get(malformedBodyKey);
      if (malformed !== undefined) throw malformedRequest(malformed);
      return h(input, ctx.signal, ctx.values.get(peerAddressKey));
    };
  }
  router.service(service, impl as never, readMaxBytes === undefined ? {} : { readMaxBytes });
}
