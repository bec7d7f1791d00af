import { create, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it, vi } from "vitest";
import { IntrospectRequestSchema } from "../../src/gen/warpflow/auth/v1/token_service_pb.js";
import type { DirectRoutes } from "../../src/transport/grpc/direct/direct-routes.js";
import { h2Request } from "../support/h2-request.js";
import { envelope } from "../support/stream-flood.js";
import { useTestApp } from "../support/test-app.js";

/**
 * The differential tests (grpc-direct-diff, grpc-direct-compression, watch-direct-wire) compare the
 * direct path with `grpcDirect: false` and pass whatever serves both: this checks the switch. Every
 * stream the direct routes take is recorded by the server port it came in on (the routes' handlers
 * wrapped where they are added), so a call to the reference app must never show up there.
 */
const servedOnPort = new Set<number>();
vi.mock("../../src/transport/grpc/direct/direct-routes.js", async (importOriginal) => {
  const real = await importOriginal<typeof import("../../src/transport/grpc/direct/direct-routes.js")>();
  return {
    ...real,
    addDirectMethod(routes: DirectRoutes, method: Parameters<typeof real.addDirectMethod>[1]) {
      real.addDirectMethod(routes, method);
      const serve = routes.get(method.path)!;
      routes.set(method.path, (stream, headers) => {
        const port = stream.session?.socket?.localPort;
        if (port !== undefined) servedOnPort.add(port);
        serve(stream, headers);
      });
    },
  };
});

const direct = useTestApp();
const reference = useTestApp({ grpcDirect: false });

const INTROSPECT = "/warpflow.auth.v1.TokenService/Introspect";
const body = envelope(
  Buffer.from(
    toBinary(IntrospectRequestSchema, create(IntrospectRequestSchema, { token: `wf_acme_${"A".repeat(38)}` })),
  ),
);

describe("grpcDirect: false really serves on grpc-js (the differential tests' reference)", () => {
  it("an Introspect to the default app is served directly; one to the grpcDirect:false app is not", async () => {
    const headers = { ":path": INTROSPECT, "content-type": "application/grpc", te: "trailers" };
    const [d, r] = [
      await h2Request(direct.port, headers, body).done,
      await h2Request(reference.port, headers, body).done,
    ];
    expect(r.grpcStatus).toBe(d.grpcStatus); // both answered alike
    expect(servedOnPort.has(direct.port)).toBe(true);
    expect(servedOnPort.has(reference.port)).toBe(false);
  });
});
