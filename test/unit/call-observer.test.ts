import { Code } from "@connectrpc/connect";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { createMetrics } from "../../src/observability/metrics.js";
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

describe("call observer: okRecorder (the fast path's per-method recorder)", () => {
  const scrape = async (m: ReturnType<typeof createMetrics>) =>
    (await m.registry.metrics()).split("\n").filter((l) => l.startsWith("warpflow_rpc_duration_seconds"));

  it("records exactly what endOk records: the same series and values, the same log lines", async () => {
    const run = async (use: (o: ReturnType<typeof createCallObserver>) => void) => {
      const sink = lineSink();
      const metrics = createMetrics();
      const o = createCallObserver(pino({ level: "info" }, sink.stream), metrics, new Set(["Introspect"]));
      use(o);
      return { series: await scrape(metrics), lines: sink.lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
    };
    const calls: [string, number][] = [
      ["Introspect", 0.00003],
      ["Introspect", 0.0004],
      ["Introspect", 0.002],
      ["GetKey", 0.0007],
    ];
    const viaEndOk = await run((o) => calls.forEach(([m, s]) => o.endOk!(m, s)));
    const viaRecorder = await run((o) => {
      const rec = new Map(["Introspect", "GetKey"].map((m) => [m, o.okRecorder!(m)]));
      calls.forEach(([m, s]) => rec.get(m)!(s));
    });
    expect(viaRecorder.series).toEqual(viaEndOk.series);
    expect(viaRecorder.series.some((l) => l.includes('method="Introspect",code="ok"'))).toBe(true);
    const strip = (ls: Record<string, unknown>[]) => ls.map(({ time: _t, pid: _p, hostname: _h, ...rest }) => rest);
    expect(strip(viaRecorder.lines)).toEqual(strip(viaEndOk.lines));
    expect(viaRecorder.lines.some((l) => l.rpc === "Introspect")).toBe(false); // the hot method: off the info log
  });

  it("a method never called has no series (children are made at the first call, as before)", async () => {
    const metrics = createMetrics();
    const o = createCallObserver(pino({ level: "info" }, lineSink().stream), metrics, new Set(["Introspect"]));
    o.okRecorder!("Introspect");
    expect(await scrape(metrics)).toEqual([]);
  });

  it("is absent at debug, like endOk (every call then takes the full path with its request id)", () => {
    const o = createCallObserver(pino({ level: "debug" }, lineSink().stream), undefined, new Set(["Introspect"]));
    expect(o.okRecorder).toBeUndefined();
    expect(o.endOk).toBeUndefined();
  });
});
