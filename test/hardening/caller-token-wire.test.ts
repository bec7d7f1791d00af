import { create, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { createMemoryTokenStore } from "../../src/adapters/memory/memory-token-store.js";
import { IntrospectRequestSchema } from "../../src/gen/warpflow/auth/v1/token_service_pb.js";
import { h2Request } from "../support/h2-request.js";
import { envelope } from "../support/stream-flood.js";
import { useTestApp } from "../support/test-app.js";

/**
 * The caller credential on the wire, on the direct gRPC path and on grpc-js, and over Connect
 * HTTP/2: only the exact value in the exact header is accepted; no `-bin` variant, no second
 * copy, no case change, no prefix.
 */
const CALLER = "caller-token-0123456789abcdef-0123456789";
const env = { INTROSPECT_CALLER_TOKEN: CALLER };
const direct = useTestApp({ store: createMemoryTokenStore(), logLevel: "warn", env });
const reference = useTestApp({ store: createMemoryTokenStore(), logLevel: "warn", env, grpcDirect: false });

const INTROSPECT = "/warpflow.auth.v1.TokenService/Introspect";
const body = envelope(
  Buffer.from(
    toBinary(IntrospectRequestSchema, create(IntrospectRequestSchema, { token: `wf_acme_${"A".repeat(38)}` })),
  ),
);

const variants: Record<string, Record<string, string | string[]>> = {
  "-bin (base64)": { "x-warpflow-caller-token-bin": Buffer.from(CALLER).toString("base64") },
  "-bin (raw)": { "x-warpflow-caller-token-bin": CALLER },
  "upper case": { "x-warpflow-caller-token": CALLER.toUpperCase() },
  prefix: { "x-warpflow-caller-token": CALLER.slice(0, -1) },
  "with suffix": { "x-warpflow-caller-token": `${CALLER}x` },
  "twice (right, wrong)": { "x-warpflow-caller-token": [CALLER, "wrong"] },
  "twice (right, right)": { "x-warpflow-caller-token": [CALLER, CALLER] },
  "as authorization": { authorization: `Bearer ${CALLER}` },
  "other name": { "x-warpflow-caller": CALLER },
};

describe.each([
  ["direct", direct],
  ["grpc-js", reference],
])("gRPC Introspect on %s", (_name, t) => {
  const call = async (extra: Record<string, string | string[]>) =>
    (
      await h2Request(
        t.port,
        { ":path": INTROSPECT, "content-type": "application/grpc", te: "trailers", ...extra },
        body,
      ).done
    ).grpcStatus;

  it("accepts the exact credential", async () => {
    expect(await call({ "x-warpflow-caller-token": CALLER })).toBe("0");
  });

  it.each(Object.entries(variants))("refuses %s", async (_v, extra) => {
    expect(await call(extra)).toBe("16");
  });
});

describe("Connect Introspect over HTTP/2", () => {
  const call = async (extra: Record<string, string | string[]>) =>
    (
      await h2Request(
        direct.port,
        { ":path": INTROSPECT, "content-type": "application/json", ...extra },
        JSON.stringify({ token: `wf_acme_${"A".repeat(38)}` }),
      ).done
    ).status;
  it("accepts the exact credential", async () => {
    expect(await call({ "x-warpflow-caller-token": CALLER })).toBe(200);
  });
  it.each(Object.entries(variants))("refuses %s", async (_v, extra) => {
    expect(await call(extra)).toBe(401);
  });
});
