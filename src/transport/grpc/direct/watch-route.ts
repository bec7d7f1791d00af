// The server-streaming methods that have a pushed form (PUSH_STREAMS: WatchInvalidations), served
// directly on their HTTP/2 stream (watch-call.ts) instead of by grpc-js, which keeps them
// registered as the reference (tests compare both: test/e2e/watch-direct-wire.e2e.test.ts).
import type { DescService } from "@bufbuild/protobuf";
import type { IncomingHttpHeaders, ServerHttp2Stream } from "node:http2";
import type { CallObserver } from "../../protocol/call-observer.js";
import { PUSH_STREAMS, type WithPushStreams } from "../../protocol/push-streams.js";
import { createDirectStream, type PushHandler } from "./watch-call.js";

export type DirectStreamRoutes = Map<string, (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => void>;

export function addDirectStreams<S extends DescService>(
  routes: DirectStreamRoutes,
  service: S,
  /** Stream handlers; those with a pushed form (PUSH_STREAMS) are served here. */
  handlers: object,
  opts: { observer: CallObserver; maxReceiveBytes: number; maxSendBytes: number },
): void {
  const pushed = (handlers as WithPushStreams<S>)[PUSH_STREAMS] as Record<string, PushHandler | undefined> | undefined;
  if (pushed === undefined) return;
  for (const method of service.methods) {
    const handler = pushed[method.localName];
    if (method.methodKind !== "server_streaming" || handler === undefined) continue;
    const path = `/${service.typeName}/${method.name}`;
    routes.set(
      path,
      createDirectStream({
        name: method.name,
        path,
        input: method.input,
        output: method.output,
        handler,
        ...opts,
      }),
    );
  }
}
