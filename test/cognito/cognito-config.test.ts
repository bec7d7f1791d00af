import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";

/** COGNITO_* parsing: names are fixed by issue 4. */
const base = { COGNITO_USER_POOL_ID: "us-east-1_AbCdEf", COGNITO_CLIENT_ID: "client1" };

describe("COGNITO_* configuration", () => {
  it("is off without COGNITO_USER_POOL_ID (other COGNITO_* ignored)", () => {
    const c = loadConfig({ COGNITO_CLIENT_ID: "x" });
    expect(c.cognito).toBeUndefined();
  });

  it("has the documented defaults", () => {
    expect(loadConfig(base).cognito).toEqual({
      userPoolIds: ["us-east-1_AbCdEf"],
      clientIds: ["client1"],
      tokenUse: "access",
      tenantClaim: "custom:tenant_id",
      adminGroup: "tenant-admins",
      jwksFile: undefined,
    });
  });

  it("takes comma-separated pools and clients (trimmed, deduplicated) and every other variable", () => {
    const c = loadConfig({
      COGNITO_USER_POOL_ID: " us-east-1_AbCdEf, eu-west-1_Zz9 ,us-east-1_AbCdEf",
      COGNITO_CLIENT_ID: "a,b,,a",
      COGNITO_TOKEN_USE: "id",
      COGNITO_TENANT_CLAIM: "custom:org",
      COGNITO_ADMIN_GROUP: "org-admins",
      COGNITO_JWKS_FILE: "/etc/warpflow/jwks.json",
    }).cognito;
    expect(c).toEqual({
      userPoolIds: ["us-east-1_AbCdEf", "eu-west-1_Zz9"],
      clientIds: ["a", "b"],
      tokenUse: "id",
      tenantClaim: "custom:org",
      adminGroup: "org-admins",
      jwksFile: "/etc/warpflow/jwks.json",
    });
  });

  it.each(["us-gov-west-1_AbC", "eusc-de-east-1_AbC", "ap-southeast-2_x1"])(
    "accepts the pool id %s (as aws-jwt-verify does)",
    (pool) => {
      expect(loadConfig({ ...base, COGNITO_USER_POOL_ID: pool }).cognito?.userPoolIds).toEqual([pool]);
    },
  );

  it.each([
    [{ COGNITO_USER_POOL_ID: "AbCdEf" }, /^COGNITO_USER_POOL_ID: entry 1 is not a user pool id/],
    [{ COGNITO_USER_POOL_ID: "us-east-west-1_AbC" }, /^COGNITO_USER_POOL_ID: /],
    [{ COGNITO_USER_POOL_ID: "us-east-1_Ab-C" }, /^COGNITO_USER_POOL_ID: /],
    [{ COGNITO_CLIENT_ID: "" }, /^COGNITO_CLIENT_ID: is required/],
    [{ COGNITO_TOKEN_USE: "refresh" }, /^COGNITO_TOKEN_USE: must be access or id/],
  ])("refuses %o with one line naming the variable", (env, message) => {
    expect(() => loadConfig({ ...base, ...env })).toThrow(message);
  });
});
