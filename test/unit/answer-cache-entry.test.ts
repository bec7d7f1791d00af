import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { entryOf } from "../../src/client/answer-cache.js";
import {
  InactiveReason,
  IntrospectResponseSchema,
  TokenType,
} from "../../src/gen/warpflow/auth/v1/token_service_pb.js";

// The client's hit rule reads one instant per entry (freshUntilMs) instead of the answer: it must be
// the rule it replaces, "before validUntilMs, and for an active answer before expiresAtMs".
describe("answer cache entries (client)", () => {
  const active = create(IntrospectResponseSchema, { active: true, tokenType: TokenType.SESSION, tenantId: "t" });
  const inactive = create(IntrospectResponseSchema, { active: false, inactiveReason: InactiveReason.NOT_FOUND });

  it("an active answer is fresh until the earlier of its cache lifetime and its expiry", () => {
    expect(entryOf(active, "t", 5_000, 9_000).freshUntilMs).toBe(5_000);
    expect(entryOf(active, "t", 9_000, 5_000).freshUntilMs).toBe(5_000);
    expect(entryOf(active, "t", Infinity, 5_000).freshUntilMs).toBe(5_000);
  });

  it("an inactive answer is fresh until its cache lifetime, whatever its expires_at", () => {
    expect(entryOf(inactive, "t", 1_000, 9_000).freshUntilMs).toBe(9_000);
  });

  it("every entry has the same fields in the same order (one object shape on the hit path)", () => {
    const keys = (e: object) => Object.keys(e).join(",");
    const plain = entryOf(active, "t", 1, 2);
    expect(keys(entryOf(inactive, "", Infinity, Infinity, true))).toBe(keys(plain));
    expect(keys(entryOf(inactive, "t", 1, 1, false, "key_x"))).toBe(keys(plain));
    expect(plain.final).toBe(false);
  });
});
