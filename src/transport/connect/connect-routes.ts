import type { DescService } from "@bufbuild/protobuf";
import { ConnectError, type ConnectRouter, type HandlerContext } from "@connectrpc/connect";
import { malformedBodyKey } from "./connect-adapter.js";
import { malformedRequest } from "../protocol/malformed-request.js";
import type { CallObserver } from "../protocol/call-observer.js";
import { mapError, OK } from "../protocol/error-mapping.js";
import { connectCallContext } from "./connect-call-context.js";
import type { CallContext, UnaryHandlers } from "../protocol/unary-handlers.js";
import { REQUEST_ID_HEADER } from "../protocol/request-id.js";
import type { StreamHandlers } from "../protocol/stream-handlers.js";
import { connectStream } from "./connect-streams.js";

export { clientCertVerifiedKey, peerAddressKey } from "./connect-call-context.js";

/**
 * Registers transport-neutral handlers on a Connect router (served by connect-es over HTTP/1.1 and HTTP/2:
 * Connect JSON/binary, and gRPC-Web). Same handlers, same error mapping, same observer as gRPC.
 */
export function registerConnectService<S extends DescService>(
  router: ConnectRouter,
  service: S,
  handlers: UnaryHandlers<S>,
  observer: CallObserver,
  streams?: StreamHandlers<S>,
): void {
  const impl: Record<string, (req: unknown, hc: HandlerContext) => unknown> = {};
  for (const method of service.methods) {
    if (method.methodKind === "server_streaming") {
      if (streams) impl[method.localName] = connectStream(method.name, streams, method.localName, observer);
      continue;
    }
    const handler = (handlers as Record<string, (req: unknown, ctx: CallContext) => Promise<unknown>>)[
      method.localName
    ]!;
    impl[method.localName] = async (req, hc) => {
      const start = process.hrtime.bigint();
      const ctx = connectCallContext(hc);
      try {
        const malformed = hc.values.get(malformedBodyKey);
        if (malformed !== undefined) throw malformedRequest(malformed);
        const res = await handler(req, ctx);
        observer.end(method.name, OK, start, ctx);
        if (ctx.requestId !== undefined) hc.responseHeader.set(REQUEST_ID_HEADER, ctx.requestId);
        return res;
      } catch (err) {
        const mapped = mapError(err);
        observer.end(method.name, mapped.code, start, ctx, mapped.unexpected ? err : mapped.message);
        if (ctx.requestId !== undefined) hc.responseHeader.set(REQUEST_ID_HEADER, ctx.requestId);
        throw new ConnectError(mapped.message, mapped.code);
      }
    };
  }
  router.service(service, impl as never);
}
