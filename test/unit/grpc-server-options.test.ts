import { describe, expect, it } from "vitest";
import { createGrpcServer } from "../../src/transport/grpc/grpc-injector.js";

// Issue 21: grpc-js's channelz bookkeeping is per call (and per open watcher) and nothing reads it:
// the service's grpc-js server runs without it. (grpc-js keeps the switch in a private field.)
describe("the service's grpc-js server", () => {
  it("runs without channelz", () => {
    const server = createGrpcServer({
      maxReceiveBytes: 1024,
      maxConcurrentStreams: 100,
      maxConnectionAgeMs: 0,
      maxConnectionAgeGraceMs: 0,
    });
    expect((server as unknown as { channelzEnabled?: boolean }).channelzEnabled).toBe(false);
  });
});
