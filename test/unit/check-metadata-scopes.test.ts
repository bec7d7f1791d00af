import { describe, expect, it } from "vitest";
import { allowedCheck } from "../../src/service/check-answers.js";
import { toIntrospectResponse } from "../../src/service/proto-mapping.js";
import { claimHeaders } from "../../src/transport/protocol/edge-auth-answers.js";

/**
 * Check's dynamic metadata is "the claims" for the filters after ext_authz (an RBAC
 * or Lua filter reading metadata, not headers). A scoped key's metadata must say it is scoped, as
 * its x-warpflow-scopes header does: without it, a scoped key reads like an unscoped one (full
 * tenant access) to every metadata consumer.
 */
/** The answer for an active tenant key, with these scopes (none: unscoped). */
const keyAnswer = (scopes?: string[]) =>
  toIntrospectResponse({
    active: true,
    tokenType: "api_key",
    tenantId: "acme",
    keyId: "key_AAAAAAAAAAAAAAAAAAAA",
    deprecated: false,
    admin: false,
    ...(scopes ? { scopes } : {}),
  });

describe("Check metadata carries the scopes the headers carry", () => {
  it("a scoped key's dynamic metadata names its scopes", () => {
    const r = keyAnswer(["reports:read"]);
    expect(claimHeaders(r)["x-warpflow-scopes"]).toBe("reports:read");
    const check = allowedCheck(r, []);
    expect(check.dynamicMetadata?.scopes).toEqual(["reports:read"]);
  });

  it("an unscoped key's metadata has no scopes (as its headers have no x-warpflow-scopes)", () => {
    const r = keyAnswer();
    expect(claimHeaders(r)["x-warpflow-scopes"]).toBeUndefined();
    expect(allowedCheck(r, []).dynamicMetadata?.scopes).toBeUndefined();
  });
});
