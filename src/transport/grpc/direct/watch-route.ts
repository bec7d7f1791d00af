// The server-streaming methods that have a pushed form (PUSH_STREAMS: WatchInvalidations), served
// directly on their HTTP/2 stream (watch-call.ts) instead of by grpc-js, which keeps them
// registered as the reference (test/e2e/watch-direct-wire.e2e.test.ts compares both).
import type { DescService } from "@bufbuild/protobuf";
import type { CallObserver } from "../../protocol/call-observer.js";
import { PUSH_STREAMS, type WithPushStreams } from "../../protocol/push-streams.js";
import { addDirectMethod, type DirectRoutes } from "./direct-routes.js";
import { directStreamMethod, type PushHandler } from "./watch-call.js";

export function addDirectStreams<S extends DescService>(
  routes: DirectRoutes,
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
    addDirectMethod(
      routes,
      directStreamMethod(`/${service.typeName}/${method.name}`, opts.maxReceiveBytes, {
        name: method.name,
        input: method.input,
        output: method.output,
        handler,
        observer: opts.observer,
        maxSendBytes: opts.maxSendBytes,
      }),
    );
  }
}
