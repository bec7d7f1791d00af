import { Code } from "@connectrpc/connect";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { createCallObserver } from "../../src/transport/protocol/call-observer.js";
import { OK } from "../../src/transport/protocol/error-mapping.js";
import type { CallContext } from "../../src/transport/protocol/unary-handlers.js";
import { lineSink } from "../support/log-lines.js";

/** Which level each kind of call end logs at (a refusal flood must not flood the info log). */
describe("call observer log levels", () => {
  const ctx: CallContext = { bearer: undefined, peer: "10.0.0.1:1", userAgent: "x", protocol: "grpc" };
  function levels(end: (o: ReturnType<typeof createCallObserver>) => void): number[] {
    const sink = lineSink();
    const observer = createCallObserver(pino({ level: "info" }, sink.stream), undefined, new Set(["Introspect"]));
    end(observer);
    return sink.lines.map((l) => (JSON.parse(l) as { level: number }).level);
  }
  const start = process.hrtime.bigint();

  it("refusals (UNAUTHENTICATED, PERMISSION_DENIED) log at debug; other expected failures and admin successes at info; unexpected errors at error", () => {
    expect(
      levels((o) => o.end("CreateKey", Code.Unauthenticated, start, ctx, "the bearer credential is not valid")),
    ).toEqual([]);
    expect(levels((o) => o.end("ListKeys", Code.PermissionDenied, start, ctx, "not allowed"))).toEqual([]);
    expect(levels((o) => o.end("CreateKey", Code.InvalidArgument, start, ctx, "label: is required"))).toEqual([30]);
    expect(levels((o) => o.end("CreateKey", OK, start, ctx))).toEqual([30]);
    expect(levels((o) => o.end("Introspect", OK, start, ctx))).toEqual([]);
    expect(levels((o) => o.end("Introspect", Code.InvalidArgument, start, ctx, "expected_tenant_id: bad"))).toEqual([
      30,
    ]);
    expect(levels((o) => o.end("CreateKey", Code.Internal, start, ctx, new Error("boom")))).toEqual([50]);
  });
});
