import { describe, expect, it } from "vitest";
import { createInvalidationHub } from "../../src/domain/invalidation-hub.js";
import { createWatchHandlers } from "../../src/service/watch-invalidations.js";
import * as pb from "../../src/gen/warpflow/auth/v1/token_service_pb.js";
import { create } from "@bufbuild/protobuf";
import { limitStreamHandlers } from "../../src/transport/builtin/stream-limit.js";
import { PUSH_STREAMS, type PushCallContext, type StreamSink } from "../../src/transport/protocol/push-streams.js";

/**
 * Review (branch rev): a pushed watch that ends inside its own start (the hub already closed: its
 * sink's end() runs before subscribe returns) gives its place in the stream bound back. The sink
 * below does what grpc/direct/watch-call.ts DirectWatch.over() does at its end: call ctx.onClose.
 */
const clock = { now: () => new Date("2026-12-07T00:00:00Z") };

function pushedWatch() {
  const hub = createInvalidationHub({ clock, heartbeatMs: 1000, replayBuffer: 16, complete: () => true });
  hub.close(); // e.g. SIGTERM: app.close() closes the hub before the server drains
  const limited = limitStreamHandlers(createWatchHandlers({ hub }), { max: 1, maxPerAddress: 0 }, "open watchers");
  return limited[PUSH_STREAMS]!.watchInvalidations!;
}

describe("the stream bound's place of a pushed watch that ends while it starts", () => {
  it("is given back (a second watch is not refused for a place nobody holds)", () => {
    const watch = pushedWatch();
    const start = () => {
      const ctx: PushCallContext = { bearer: undefined, peer: "10.0.0.1:5000" };
      const sink: StreamSink<unknown> = {
        send: () => true,
        evicted: () => {},
        end: () => {
          const release = ctx.onClose;
          ctx.onClose = undefined;
          release?.(ctx);
        },
      };
      return watch(create(pb.WatchInvalidationsRequestSchema, {}), ctx, sink);
    };
    start().close();
    expect(() => start().close()).not.toThrow();
  });
});
