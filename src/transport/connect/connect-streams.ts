// TokenService's server-streaming methods (WatchInvalidations) on the connect-node router: Connect
// streaming and gRPC-Web, over HTTP/1.1 and HTTP/2. Same handlers, error mapping and observer as
// the grpc-js path (grpc/grpc-token-streams.ts).
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { bearerToken } from "../protocol/bearer.js";
import type { CallObserver } from "../protocol/call-observer.js";
import { mapError, OK } from "../protocol/error-mapping.js";
import { malformedRequest } from "../protocol/malformed-request.js";
import { connectProtocolOf } from "../protocol/peer.js";
import type { StreamCallContext } from "../protocol/stream-handlers.js";
import { malformedBodyKey, nodeResponseKey } from "./connect-adapter.js";
import { clientCertVerifiedKey, peerAddressKey } from "./connect-routes.js";

type Handler = (req: unknown, ctx: StreamCallContext) => AsyncIterable<unknown>;

export function connectStream(
  name: string,
  handlers: object,
  localName: string,
  observer: CallObserver,
): (req: unknown, hc: HandlerContext) => AsyncIterable<unknown> {
  const handler = (handlers as Record<string, Handler>)[localName]!;
  return async function* (req, hc) {
    const start = process.hrtime.bigint();
    const ctx: StreamCallContext = {
      get bearer() {
        return bearerToken(hc.requestHeader.get("authorization"));
      },
      signal: hc.signal,
      header: (h) => hc.requestHeader.get(h) ?? undefined,
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
      hangUp: () => void hc.values.get(nodeResponseKey)?.destroy(),
    };
    let observed = false;
    try {
      const malformed = hc.values.get(malformedBodyKey);
      if (malformed !== undefined) throw malformedRequest(malformed);
      yield* handler(req, ctx);
      observed = true;
      observer.end(name, hc.signal.aborted ? Code.Canceled : OK, start, ctx);
    } catch (err) {
      const mapped = mapError(err);
      observed = true;
      observer.end(name, mapped.code, start, ctx, mapped.unexpected ? err : mapped.message);
      throw new ConnectError(mapped.message, mapped.code);
    } finally {
      // The usual end of a watch: the client cancels (or goes away, or was hung up on).
      if (!observed) observer.end(name, Code.Canceled, start, ctx);
    }
  };
}
