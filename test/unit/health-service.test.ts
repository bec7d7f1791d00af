import { describe, expect, it } from "vitest";
import { HealthCheckResponse_ServingStatus as Status } from "../../src/gen/grpc/health/v1/health_pb.js";
import { createHealthService } from "../../src/transport/builtin/health.js";

const handlers = (h: ReturnType<typeof createHealthService>) =>
  h.served.handlers as unknown as {
    check(req: { service: string }, s: AbortSignal): Promise<{ status: Status }>;
    watch(req: { service: string }, s: AbortSignal): AsyncIterable<{ status: Status }>;
    list(req: object, s: AbortSignal): Promise<{ statuses: Record<string, { status: Status }> }>;
  };

describe("grpc.health.v1 service", () => {
  it("is NOT_SERVING for the overall status and each service until setServing(true)", async () => {
    const h = createHealthService(["warpflow.auth.v1.TokenService"]);
    const { check } = handlers(h);
    const signal = new AbortController().signal;
    expect((await check({ service: "" }, signal)).status).toBe(Status.NOT_SERVING);
    expect((await check({ service: "warpflow.auth.v1.TokenService" }, signal)).status).toBe(Status.NOT_SERVING);
    h.setServing(true);
    expect((await check({ service: "" }, signal)).status).toBe(Status.SERVING);
    await expect(check({ service: "other" }, signal)).rejects.toMatchObject({ code: 5 });
  });

  it("Watch sends each change once, and ends when the caller aborts", async () => {
    const h = createHealthService(["svc"]);
    const ac = new AbortController();
    const seen: Status[] = [];
    const it = handlers(h).watch({ service: "svc" }, ac.signal)[Symbol.asyncIterator]();
    seen.push((await it.next()).value.status);
    h.setServing(true);
    seen.push((await it.next()).value.status);
    h.setServing(true); // no change: nothing sent
    h.setServing(false);
    seen.push((await it.next()).value.status);
    const next = it.next();
    ac.abort();
    expect((await next).done).toBe(true);
    expect(seen).toEqual([Status.NOT_SERVING, Status.SERVING, Status.NOT_SERVING]);
  });

  it("a cancelled Watch is not kept: 1,000 watchers that go away leave none waiting (was: kept until the next status change)", async () => {
    const h = createHealthService(["svc"]);
    const calls = Array.from({ length: 1000 }, () => {
      const ac = new AbortController();
      return { ac, it: handlers(h).watch({ service: "svc" }, ac.signal)[Symbol.asyncIterator]() };
    });
    for (const c of calls) await c.it.next(); // the current status
    const pending = calls.map((c) => c.it.next()); // each now waits for a change
    expect(h.watching).toBe(1000);
    for (const c of calls) c.ac.abort();
    for (const p of pending) expect((await p).done).toBe(true);
    expect(h.watching).toBe(0);
  });
});
