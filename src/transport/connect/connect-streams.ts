// TokenService's server-streaming methods (WatchInvalidations) on the connect-node router: Connect
// streaming and gRPC-Web, over HTTP/1.1 and HTTP/2. Same handlers, error mapping and observer as
// the grpc-js path (grpc/grpc-token-streams.ts).
import * as http2 from "node:http2";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import type { CallObserver } from "../protocol/call-observer.js";
import { mapError, OK } from "../protocol/error-mapping.js";
import { malformedRequest } from "../protocol/malformed-request.js";
import type { StreamCallContext } from "../protocol/stream-handlers.js";
import { malformedBodyKey, nodeResponseKey } from "./connect-adapter.js";
import { connectCallContext } from "./connect-call-context.js";

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
    let hungUp = false;
    const ctx = connectCallContext(hc) as StreamCallContext;
    ctx.hangUp = () => {
      hungUp = true;
      const res = hc.values.get(nodeResponseKey);
      // HTTP/2: reset the stream (CANCEL); HTTP/1.1: close the connection.
      if (res?.stream && !res.stream.destroyed) res.stream.close(http2.constants.NGHTTP2_CANCEL);
      else res?.destroy();
    };
    let observed = false;
    try {
      const malformed = hc.values.get(malformedBodyKey);
      if (malformed !== undefined) throw malformedRequest(malformed);
      yield* handler(req, ctx);
      observed = true;
      observer.end(name, hc.signal.aborted ? Code.Canceled : OK, start, ctx);
    } catch (err) {
      // A reader hung up on (too slow): its pending write fails; the call ended for that reason.
      const mapped = hungUp
        ? { code: Code.ResourceExhausted, message: "watcher too slow", unexpected: false }
        : mapError(err);
      observed = true;
      observer.end(name, mapped.code, start, ctx, mapped.unexpected ? err : mapped.message);
      throw new ConnectError(mapped.message, mapped.code);
    } finally {
      // The usual end of a watch: the client cancels (or goes away, or was hung up on).
      if (!observed) observer.end(name, hungUp ? Code.ResourceExhausted : Code.Canceled, start, ctx);
    }
  };
}
