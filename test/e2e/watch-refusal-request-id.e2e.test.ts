import { create, toBinary } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WatchInvalidationsRequestSchema } from "../../src/gen/warpflow/auth/v1/token_service_pb.js";
import { h2Request } from "../support/h2-request.js";
import { envelope } from "../support/stream-flood.js";
import { startTestApp, type TestApp } from "../support/test-app.js";

/**
 * Review findings (branch rev = direct + watch): the direct paths against grpc-js
 * (`grpcDirect: false`) on what the observer's one log line per call carries.
 */
const WATCH = "/warpflow.auth.v1.TokenService/WatchInvalidations";
const CALLER = "caller-secret-0123456789abcdefghijklmnop";
const env = { INTROSPECT_CALLER_TOKEN: CALLER, WATCH_MAX_WATCHERS: "2", MAX_BODY_BYTES: "65536" };
let direct: TestApp;
let reference: TestApp;
beforeAll(async () => {
  [direct, reference] = await Promise.all([
    startTestApp({ env, logLevel: "info" }),
    startTestApp({ env, logLevel: "info", grpcDirect: false }),
  ]);
}, 30_000);
afterAll(async () => {
  await direct?.close();
  await reference?.close();
});

const base = { ":path": WATCH, "content-type": "application/grpc", te: "trailers" };
const request = (fields: Parameters<typeof create<typeof WatchInvalidationsRequestSchema>>[1] = {}) =>
  envelope(Buffer.from(toBinary(WatchInvalidationsRequestSchema, create(WatchInvalidationsRequestSchema, fields))));

async function watchLine(t: TestApp, body: Buffer) {
  const mark = t.logs.length;
  const headers = { ...base, "x-warpflow-caller-token": CALLER, "x-request-id": "gw-req-42" };
  const answer = await h2Request(t.port, headers, body).done;
  await new Promise((resolve) => setTimeout(resolve, 150));
  const lines = t.logs
    .slice(mark)
    .map((l) => JSON.parse(l) as { rpc?: string; code?: string; request_id?: string })
    .filter((l) => l.rpc === "WatchInvalidations")
    .map(({ code, request_id }) => ({ code, request_id }));
  return { status: answer.grpcStatus, lines };
}

describe("a refused WatchInvalidations logs the caller's x-request-id, as on grpc-js", () => {
  it("INVALID_ARGUMENT (resume_instance_id over 64 characters)", async () => {
    const body = request({ resumeInstanceId: "x".repeat(65) });
    const want = await watchLine(reference, body);
    expect(want).toEqual({ status: "3", lines: [{ code: "invalid_argument", request_id: "gw-req-42" }] });
    expect(await watchLine(direct, body)).toEqual(want);
  });

  it("INVALID_ARGUMENT (a request that does not decode)", async () => {
    const body = envelope(Buffer.from([0x0a, 0xff, 0xff]));
    const want = await watchLine(reference, body);
    expect(want.lines).toEqual([{ code: "invalid_argument", request_id: "gw-req-42" }]);
    expect(await watchLine(direct, body)).toEqual(want);
  });
});
