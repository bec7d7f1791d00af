import { describe, expect, it } from "vitest";
import { DomainError } from "../../src/domain/errors.js";
import {
  grantableScopes,
  holdsScopes,
  requireRequiredScopes,
  requireScopes,
  scopesFromClaim,
} from "../../src/domain/key-scopes.js";

const thrown = (f: () => unknown): DomainError => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(DomainError);
    return e as DomainError;
  }
  throw new Error("accepted");
};

describe("scopes (issue 22)", () => {
  it("accepts the documented pattern, deduplicates in order, none = undefined", () => {
    expect(requireScopes(["contacts:read", "a", "deals.write-all_2", "a"])).toEqual([
      "contacts:read",
      "a",
      "deals.write-all_2",
    ]);
    expect(requireScopes([])).toBeUndefined();
    expect(requireScopes(["a".repeat(64)])).toEqual(["a".repeat(64)]);
    expect(requireScopes(Array.from({ length: 32 }, (_, i) => `s${i}`))).toHaveLength(32);
    expect(requireScopes(Array.from({ length: 64 }, (_, i) => `s${i % 32}`))).toHaveLength(32);
  });

  it("refuses anything else with INVALID_ARGUMENT naming the field and position, never the value", () => {
    for (const bad of ["", "A", "1abc", "a b", "a/b", "a".repeat(65), "wf_Acme_Secret", "é", "a\n", "*"]) {
      const e = thrown(() => requireScopes(["ok", bad], "scopes"));
      expect(e.code).toBe("invalid_argument");
      expect(e.message).toBe("scopes[1]: must match ^[a-z][a-z0-9_.:-]{0,63}$");
    }
    const tooMany = thrown(() => requireScopes(Array.from({ length: 33 }, (_, i) => `s${i}`)));
    expect(tooMany.message).toBe("scopes: at most 32 scopes");
  });

  it("required scopes take RFC 6749 scope-tokens (Cognito resource-server scopes too), never quotes or spaces", () => {
    expect(requireRequiredScopes(["https://api.example.com/read", "a"])).toEqual(["https://api.example.com/read", "a"]);
    for (const bad of ['a"b', "a\\b", "a b", "", "x".repeat(129), "ü"]) {
      expect(thrown(() => requireRequiredScopes([bad])).message).toBe(
        "required_scopes[0]: must be 1-128 characters of RFC 6749 scope-token syntax",
      );
    }
  });

  it("an unscoped token holds every scope; a scoped one only its own; an empty list none", () => {
    expect(holdsScopes(undefined, ["x"])).toBe(true);
    expect(holdsScopes(["a", "b"], ["a"])).toBe(true);
    expect(holdsScopes(["a", "b"], ["a", "c"])).toBe(false);
    expect(holdsScopes([], ["a"])).toBe(false);
    expect(holdsScopes([], [])).toBe(true);
  });

  it("a creator grants a subset of its own scopes; none asked = its own; an unscoped creator grants any", () => {
    expect(grantableScopes(undefined, ["x", "y"])).toEqual(["x", "y"]);
    expect(grantableScopes(undefined, undefined)).toBeUndefined();
    expect(grantableScopes(["a", "b"], ["b"])).toEqual(["b"]);
    expect(grantableScopes(["a", "b"], undefined)).toEqual(["a", "b"]);
    const e = thrown(() => grantableScopes(["a"], ["a", "secret-scope"]));
    expect([e.code, e.message.includes("secret-scope")]).toEqual(["permission_denied", false]);
  });

  it("Cognito's scope claim: split on spaces; no claim = unscoped; a claim with nothing usable holds nothing", () => {
    expect(scopesFromClaim("openid email https://api.example.com/read")).toEqual([
      "openid",
      "email",
      "https://api.example.com/read",
    ]);
    expect(scopesFromClaim(undefined)).toBeUndefined();
    expect(scopesFromClaim("")).toEqual([]);
    expect(scopesFromClaim('bad"one')).toEqual([]);
    expect(scopesFromClaim(Array.from({ length: 1000 }, (_, i) => `s${i}`).join(" "))).toHaveLength(128);
  });
});
