import { afterAll, describe, expect, it } from "vitest";
import { checkRequest, createGrpcCheckClient, type CheckOutcome } from "../support/grpc-check-client.js";
import { useTestApp } from "../support/test-app.js";

/**
 * A client that sends more than 100 `x-warpflow-*` headers controls the CheckRequest Envoy builds
 * for it. Check must DENY it (a CheckResponse with a denied_response), never fail the call: a
 * failed Check is an ext_authz error, which an Envoy with `failure_mode_allow: true` lets through
 * to the upstream, the client's forged claim headers included (Check never answered, so none was
 * removed or overwritten). A real grpc-js client against the real server, cold and cached.
 */
const t = useTestApp();
let checker: ReturnType<typeof createGrpcCheckClient> | undefined;
afterAll(() => checker?.close());

const forged = (n: number) =>
  Object.fromEntries(Array.from({ length: n }, (_, i) => [`x-warpflow-f${i}`, `FORGEDVALUE${i}`]));

function expectDeniedResponse(o: CheckOutcome) {
  // A gRPC error here is what failure_mode_allow: true turns into "allowed".
  expect(o.ok ? "CheckResponse" : `gRPC error ${o.code}: ${o.details}`).toBe("CheckResponse");
  if (!o.ok) return;
  expect(o.response.status?.code).not.toBe(0);
  expect(o.response.httpResponse.case).toBe("deniedResponse");
  const denied = o.response.httpResponse.value as { status?: { code: number }; body: string };
  expect(denied.status?.code).toBeGreaterThanOrEqual(400);
  expect(o.response.dynamicMetadata).toBeUndefined();
  expect(JSON.stringify(o.response)).not.toMatch(/FORGEDVALUE|wf_/);
}

describe("Check denies a request with more x-warpflow-* headers than it reads", () => {
  it("101 forged headers with a valid key: a denied CheckResponse, cold and cached (never a gRPC error)", async () => {
    checker = createGrpcCheckClient(t.address);
    const { token } = await t.grpc.createKey({ tenantId: "acme", label: "flood" }, { bearer: t.adminKey });
    const ext = { tenant_id: "acme" };
    const flood = () => checker!.check(checkRequest({ authorization: `Bearer ${token}`, ...forged(101) }, ext));
    expectDeniedResponse(await flood()); // cold: the token not yet cached
    const allowed = await checker.check(checkRequest({ authorization: `Bearer ${token}`, ...forged(100) }, ext));
    expect(allowed.ok && allowed.response.status?.code).toBe(0); // 100 is within the bound: removed, allowed
    expectDeniedResponse(await flood()); // cached: the fast path
    expect(t.logs.join("\n")).not.toMatch(/FORGEDVALUE/);
    expect(t.logs.join("\n")).not.toContain(token);
  });

  it("the same through header_map (encode_raw_headers) and with no credential at all", async () => {
    checker ??= createGrpcCheckClient(t.address);
    const raw = Object.entries(forged(150)).map(([key, value]) => ({ key, rawValue: Buffer.from(value) }));
    expectDeniedResponse(
      await checker.check({
        attributes: { request: { http: { method: "GET", path: "/", headerMap: { headers: raw } } } },
      }),
    );
    expectDeniedResponse(await checker.check(checkRequest(forged(101))));
  });
});
