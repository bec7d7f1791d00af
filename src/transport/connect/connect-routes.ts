import type { DescService } from "@bufbuild/protobuf";
import { ConnectError, createContextKey, type ConnectRouter, type HandlerContext } from "@connectrpc/connect";
import { bearerToken } from "../protocol/bearer.js";
import { malformedBodyKey } from "./connect-adapter.js";
import { malformedRequest } from "../protocol/malformed-request.js";
import type { CallObserver } from "../protocol/call-observer.js";
import { mapError, OK } from "../protocol/error-mapping.js";
import { connectProtocolOf } from "../protocol/peer.js";
import type { CallContext, UnaryHandlers } from "../protocol/unary-handlers.js";
import type { StreamHandlers } from "../protocol/stream-handlers.js";
import { connectStream } from "./connect-streams.js";

/** Set per request by the HTTP/1.1 server from the TLS socket (connectNodeAdapter contextValues). */
export const clientCertVerifiedKey = createContextKey(false, { description: "client certificate verified" });
/** Set per request by the HTTP/1.1 server: the caller's ip:port (peer.ts peerOf), for the audit trail. */
export const peerAddressKey = createContextKey<string | undefined>(undefined, { description: "peer address" });

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
      const ctx: CallContext = {
        // Read only when an admin handler asks (never on Introspect, whose token is in the message).
        get bearer() {
          return bearerToken(hc.requestHeader.get("authorization"));
        },
        signal: hc.signal,
        header: (name) => hc.requestHeader.get(name) ?? undefined,
        clientCertVerified: () => hc.values.get(clientCertVerifiedKey),
        get peer() {
          return hc.values.get(peerAddressKey);
        },
        get userAgent() {
          return hc.requestHeader.get("user-agent") ?? undefined;
        },
        get protocol() {
          return connectProtocolOf(hc.requestHeader.get("content-type"));
        },
      };
      try {
        const malformed = hc.values.get(malformedBodyKey);
        if (malformed !== undefined) throw malformedRequest(malformed);
        const res = await handler(req, ctx);
        observer.end(method.name, OK, start, ctx);
        return res;
      } catch (err) {
        const mapped = mapError(err);
        observer.end(method.name, mapped.code, start, ctx, mapped.unexpected ? err : mapped.message);
        throw new ConnectError(mapped.message, mapped.code);
      }
    };
  }
  router.service(service, impl as never);
}
