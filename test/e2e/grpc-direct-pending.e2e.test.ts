import * as http2 from "node:http2";
import { create, toBinary } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMemoryTokenStore } from "../../src/adapters/memory/memory-token-store.js";
import { CheckRequestSchema } from "../../src/gen/envoy/service/auth/v3/external_auth_pb.js";
import { IntrospectRequestSchema } from "../../src/gen/warpflow/auth/v1/token_service_pb.js";
import { createFaultyStore, type FaultyStore } from "../support/faulty-store.js";
import { h2Request, type H2Answer } from "../support/h2-request.js";
import { waitUntil } from "../support/poll.js";
import { envelope } from "../support/stream-flood.js";
import { startTestApp, type TestApp } from "../support/test-app.js";

/**
 * Review (branch rev): a direct Introspect whose store call is pending when the deadline passes or
 * the client resets, and a store that is down, against grpc-js (`grpcDirect: false`): the same
 * answer, one log line each, no write after the stream is gone, nothing kept.
 */
let direct: TestApp;
let reference: TestApp;
let faultyD: FaultyStore;
let faultyR: FaultyStore;
const env = { STORE_TIMEOUT_MS: "20000", CACHE_TTL_MS: "0" };
beforeAll(async () => {
  faultyD = createFaultyStore(createMemoryTokenStore());
  faultyR = createFaultyStore(createMemoryTokenStore());
  [direct, reference] = await Promise.all([
    startTestApp({ store: faultyD.store, env, logLevel: "debug" }),
    startTestApp({ store: faultyR.store, env, logLevel: "debug", grpcDirect: false }),
  ]);
}, 30_000);
afterAll(async () => {
  faultyD?.heal();
  faultyR?.heal();
  await direct?.close();
  await reference?.close();
});

const base = {
  ":path": "/warpflow.auth.v1.TokenService/Introspect",
  "content-type": "application/grpc",
  te: "trailers",
};
const body = (token: string) =>
  envelope(Buffer.from(toBinary(IntrospectRequestSchema, create(IntrospectRequestSchema, { token }))));
// One tenant per case (a tenant holds at most 3 active keys), the same on both apps.
const TENANTS = ["acme", "globex", "initech", "hooli"];
const made = new Map<TestApp, number>();
async function tokenOf(t: TestApp) {
  const n = made.get(t) ?? 0;
  made.set(t, n + 1);
  return (await t.grpc.createKey({ tenantId: TENANTS[n]!, label: "pending" }, { bearer: t.adminKey })).token;
}

function lines(t: TestApp, from: number) {
  return t.logs
    .slice(from)
    .map((l) => JSON.parse(l) as { rpc?: string; code?: string; error?: string; request_id?: string })
    .filter((l) => l.rpc === "Introspect" || l.rpc === "Check")
    .map(({ code, error }) => ({ code, error }));
}
function seen(a: H2Answer) {
  const { date: _d, ...headers } = a.headers;
  return { headers, trailers: a.trailers, grpcStatus: a.grpcStatus, rst: a.rstCode };
}

async function both(run: (t: TestApp, f: FaultyStore, token: string) => Promise<H2Answer>) {
  const out = [];
  for (const [t, f] of [
    [direct, faultyD],
    [reference, faultyR],
  ] as const) {
    const token = await tokenOf(t);
    const mark = t.logs.length;
    const a = await run(t, f, token);
    f.heal({ stalled: "apply" });
    await new Promise((r) => setTimeout(r, 300));
    out.push({ ...seen(a), logs: lines(t, mark) });
  }
  return { direct: out[0], reference: out[1] };
}

describe("a direct Introspect with its store call pending answers as grpc-js does", () => {
  it("the deadline passes while the store is stalled: DEADLINE_EXCEEDED, then the late answer is logged, not written", async () => {
    const r = await both(async (t, f, token) => {
      f.setMode({ kind: "stall" }, ["findKeyByHash"]);
      return h2Request(t.port, { ...base, "grpc-timeout": "300m" }, body(token)).done;
    });
    expect(r.direct).toEqual(r.reference);
    expect(r.direct!.grpcStatus).toBe("4");
  });

  it("the client resets while the store is stalled: nothing is written, one line is logged when the store answers", async () => {
    const r = await both(async (t, f, token) => {
      f.setMode({ kind: "stall" }, ["findKeyByHash"]);
      const req = h2Request(t.port, base, body(token));
      await waitUntil(() => f.stalledNow() === 1, 5000, "the Introspect reached the store");
      req.stream.close(http2.constants.NGHTTP2_CANCEL);
      return req.done;
    });
    expect(r.direct).toEqual(r.reference);
    expect(r.direct!.logs).toHaveLength(1);
  });

  it("the store is down: UNAVAILABLE (fail closed), never active", async () => {
    const r = await both(async (t, f, token) => {
      f.setMode({ kind: "fail" }, ["findKeyByHash"]);
      return h2Request(t.port, { ...base, "x-request-id": "gw-7" }, body(token)).done;
    });
    expect(r.direct).toEqual(r.reference);
    expect(r.direct!.grpcStatus).toBe("14");
  });

  it("Check with the store down: UNAVAILABLE (an error, so Envoy fails closed), never an OK allow", async () => {
    const check = (token: string) =>
      envelope(
        Buffer.from(
          toBinary(
            CheckRequestSchema,
            create(CheckRequestSchema, {
              attributes: {
                request: { http: { headers: { authorization: `Bearer ${token}` }, path: "/x", method: "GET" } },
              },
            }),
          ),
        ),
      );
    const r = await both(async (t, f, token) => {
      f.setMode({ kind: "fail" }, ["findKeyByHash"]);
      return h2Request(
        t.port,
        { ...base, ":path": "/envoy.service.auth.v3.Authorization/Check", "x-request-id": "gw-8" },
        check(token),
      ).done;
    });
    expect(r.direct).toEqual(r.reference);
    expect(r.direct!.grpcStatus).toBe("14");
    expect(r.direct!.logs).toEqual([{ code: "unavailable", error: expect.any(String) }]);
  });
});
