import { afterAll, describe, expect, it } from "vitest";
import { generateToken } from "../../src/domain/token-format.js";
import { InactiveReason } from "../../src/gen/warpflow/auth/v1/token_service_pb.js";
import { httpRequest } from "../support/authz.js";
import { checkRequest, createGrpcCheckClient } from "../support/grpc-check-client.js";
import { useTestApp } from "../support/test-app.js";

/**
 * A key with an IP allowlist, stolen and used from outside it. The edge doors answer the end user
 * (the thief): /authz's 401 and Check's denied_response must not tell it apart from a token that
 * was never issued, else they confirm the stolen key is live and worth getting inside the network
 * for. Not through a route bound to another tenant either (a tenant mismatch is only answered for
 * a live token). The service that introspects (the caller, inside) is still told
 * ADDRESS_NOT_ALLOWED, and the operator sees the reason in the Introspect result metric.
 */
const t = useTestApp();
let checker: ReturnType<typeof createGrpcCheckClient> | undefined;
afterAll(() => checker?.close());

const OUTSIDE = "198.51.100.7";

async function authz(token: string, tenant: string) {
  const a = await httpRequest(t.port, "/authz", {
    headers: {
      authorization: `Bearer ${token}`,
      "x-warpflow-expected-tenant-id": tenant,
      "x-warpflow-client-address": OUTSIDE,
    },
  });
  return { status: a.status, challenge: a.headers["www-authenticate"], body: a.body };
}

async function check(token: string, tenant: string) {
  checker ??= createGrpcCheckClient(t.address);
  const o = await checker.check(checkRequest({ authorization: `Bearer ${token}` }, { tenant_id: tenant }, OUTSIDE));
  if (!o.ok) throw new Error(`Check failed: ${o.code}`);
  return { status: o.response.status, denied: o.response.httpResponse };
}

describe("the edge answers a stolen allowlisted key from outside as an unknown token", () => {
  it("/authz and Check: the same answer as for a never-issued key, for its own tenant and for another", async () => {
    const { token } = await t.grpc.createKey(
      { tenantId: "acme", label: "fenced", allowedCidrs: ["10.0.0.0/8"] },
      { bearer: t.adminKey },
    );
    const unknown = generateToken("api_key", "acme");
    const unknownAuthz = await authz(unknown, "acme");
    const unknownCheck = await check(unknown, "acme");
    expect(unknownAuthz.status).toBe(401);
    for (const tenant of ["acme", "globex"]) {
      expect(await authz(token, tenant)).toEqual(unknownAuthz);
      expect(await check(token, tenant)).toEqual(unknownCheck);
    }
    // The caller (a service inside, doing the introspection) is still told why.
    const a = await t.grpc.introspect({ token, clientAddress: OUTSIDE });
    expect(a.inactiveReason).toBe(InactiveReason.ADDRESS_NOT_ALLOWED);
    const other = await t.grpc.introspect({ token, clientAddress: OUTSIDE, expectedTenantId: "globex" });
    expect(other.inactiveReason).toBe(InactiveReason.ADDRESS_NOT_ALLOWED);
  });

  it("a suspended (resumable) fenced key from outside: the same answer as a never-issued key, not 'token suspended'", async () => {
    const { token, key } = await t.grpc.createKey(
      { tenantId: "acme", label: "fenced suspended", allowedCidrs: ["10.0.0.0/8"] },
      { bearer: t.adminKey },
    );
    await t.grpc.suspendKey({ tenantId: "acme", keyId: key!.id }, { bearer: t.adminKey });
    const unknown = generateToken("api_key", "acme");
    const unknownAuthz = await authz(unknown, "acme");
    const unknownCheck = await check(unknown, "acme");
    for (const tenant of ["acme", "globex"]) {
      // Was: 401 "token suspended": the thief learns the key is live, only on hold.
      expect(await authz(token, tenant)).toEqual(unknownAuthz);
      expect(await check(token, tenant)).toEqual(unknownCheck);
    }
    // From inside its allowlist the suspension is said as before.
    const inside = await t.grpc.introspect({ token, clientAddress: "10.1.2.3" });
    expect(inside.inactiveReason).toBe(InactiveReason.SUSPENDED);
  });
});
