// The built-in services (health, reflection) on the connect-node router: the Connect half of what
// grpc/grpc-streams.ts does for grpc-js, so both paths run the same handlers (protocol/served-service.ts).
import type { ConnectRouter, HandlerContext } from "@connectrpc/connect";
import { malformedRequest } from "../protocol/malformed-request.js";
import type { ServedService } from "../protocol/served-service.js";
import { malformedBodyKey } from "./connect-adapter.js";
import { peerAddressKey } from "./connect-call-context.js";

/** `readMaxBytes`: the largest request message of these methods (connect-es refuses a larger one). */
export function registerConnectHandlers(
  router: ConnectRouter,
  { service, handlers }: ServedService,
  readMaxBytes?: number,
): void {
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
