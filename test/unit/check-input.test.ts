import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { CheckRequestSchema } from "../../src/gen/envoy/service/auth/v3/external_auth_pb.js";
import { checkInputOf, MAX_CLIENT_CLAIM_HEADERS } from "../../src/service/check-input.js";

/** What Check reads from a CheckRequest, field by field (the e2e test sends real ones from python). */
const request = (http: object, extensions: Record<string, string> = {}, address?: string) =>
  create(CheckRequestSchema, {
    attributes: {
      request: { http },
      contextExtensions: extensions,
      ...(address && {
        source: { address: { address: { case: "socketAddress", value: { address } } } },
      }),
    },
  });

describe("checkInputOf", () => {
  it("reads the credential, the binding, the scopes and the client address", () => {
    const input = checkInputOf(
      request(
        { headers: { authorization: "Bearer abc", accept: "*/*" } },
        { tenant_id: "acme", required_scopes: " orders:read  orders:write " },
        "203.0.113.9",
      ),
    );
    expect(input).toEqual({
      authorizationCount: 1,
      authorization: "Bearer abc",
      tenantBinding: "acme",
      requiredScopes: ["orders:read", "orders:write"],
      clientAddress: "203.0.113.9",
      clientClaimHeaders: [],
      tooManyClaimHeaders: false,
    });
  });

  it("header_map: raw_value bytes as latin1 (a non-ASCII byte stays a byte), names in any case, repeats counted", () => {
    const input = checkInputOf(
      request({
        headerMap: {
          headers: [
            { key: "Authorization", rawValue: Buffer.from("Bearer \xe9", "latin1") },
            { key: "AUTHORIZATION", value: "Bearer second" },
            { key: "X-Warpflow-Admin", rawValue: Buffer.from("true") },
          ],
        },
      }),
    );
    expect(input.authorizationCount).toBe(2);
    expect(input.authorization).toBe("Bearer \u00e9");
    expect(input.clientClaimHeaders).toEqual(["x-warpflow-admin"]);
  });

  it("no attributes at all is no credential, no binding, nothing to remove", () => {
    expect(checkInputOf(create(CheckRequestSchema))).toEqual({
      authorizationCount: 0,
      authorization: undefined,
      tenantBinding: undefined,
      requiredScopes: undefined,
      clientAddress: undefined,
      clientClaimHeaders: [],
      tooManyClaimHeaders: false,
    });
  });

  it("x-warpflow-* names: each once, invalid field names ignored, more than the bound flagged (Check denies it)", () => {
    const headers: Record<string, string> = { "x-warpflow-a": "1", "x-warpflow-bad name": "2" };
    const raw = [{ key: "X-WARPFLOW-A", value: "3" }];
    expect(checkInputOf(request({ headers, headerMap: { headers: raw } })).clientClaimHeaders).toEqual([
      "x-warpflow-a",
    ]);
    const many = Object.fromEntries(
      Array.from({ length: MAX_CLIENT_CLAIM_HEADERS + 1 }, (_, i) => [`x-warpflow-secret${i}`, "v"]),
    );
    const flood = checkInputOf(request({ headers: { ...many, authorization: "Bearer abc" } }));
    expect([flood.tooManyClaimHeaders, flood.clientClaimHeaders.length, flood.authorization]).toEqual([
      true,
      MAX_CLIENT_CLAIM_HEADERS,
      "Bearer abc",
    ]);
    // Exactly the bound, and the bound's names repeated (header_map in another case): not flagged.
    const bound = Object.fromEntries(Object.entries(many).slice(0, MAX_CLIENT_CLAIM_HEADERS));
    const repeated = Object.keys(bound).map((key) => ({ key: key.toUpperCase(), value: "v" }));
    expect(checkInputOf(request({ headers: bound, headerMap: { headers: repeated } })).tooManyClaimHeaders).toBe(false);
  });
});
