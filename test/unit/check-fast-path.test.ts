import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { CheckRequestSchema } from "../../src/gen/envoy/service/auth/v3/external_auth_pb.js";
import { createAuthorizationHandlers } from "../../src/service/ext-authz-handlers.js";
import { createTokenServiceHandlers } from "../../src/service/token-service-handlers.js";
import { FAST_UNARY, type FastUnary, type WithFastUnary } from "../../src/transport/protocol/unary-handlers.js";
import { createDomain } from "../support/domain.js";

/** Check's synchronous path: one response per cached answer, also on routes that require scopes. */
const request = (token: string, scopes: string) =>
  create(CheckRequestSchema, {
    attributes: {
      request: { http: { headers: { authorization: `Bearer ${token}` } } },
      contextExtensions: { tenant_id: "acme", required_scopes: scopes },
      source: { address: { address: { case: "socketAddress", value: { address: "203.0.113.9" } } } },
    },
  });

describe("Check fast path", () => {
  it("shares an allowed answer between calls on a scoped route; a scope denial names that route's scopes", async () => {
    const d = createDomain();
    const { token } = await d.keys.create("acme", "k", "test", { scopes: ["orders:read"] });
    await d.introspector.introspect(token); // cached: the fast path can answer
    const tokenService = createTokenServiceHandlers({
      introspector: d.introspector,
      admin: { audit: {} } as never /* introspect only: no admin call runs */,
    });
    const check = (createAuthorizationHandlers({ tokenService }) as WithFastUnary)[FAST_UNARY]!.check as FastUnary;
    const first = check.answer(request(token, "orders:read"))!;
    expect(first).toBeDefined();
    expect(check.answer(request(token, "orders:read"))).toBe(first);
    expect((check.message(first) as { status?: { code: number } }).status?.code).toBe(0);
    const denied = check.answer(request(token, "orders:write"))!;
    expect(denied).not.toBe(first);
    expect(JSON.stringify(check.message(denied))).toContain('scope=\\"orders:write\\"');
  });
});
