import { describe, expect, it } from "vitest";
import { createAddressCounts } from "../../src/transport/protocol/address-counts.js";

describe("address counts (the per-address bounds' tally)", () => {
  it("counts per group, releases to zero, and never goes below zero", () => {
    const c = createAddressCounts();
    c.add("10.0.0.1");
    c.add("10.0.0.1");
    c.add("2001:db8:1:2::/64");
    expect([c.of("10.0.0.1"), c.of("2001:db8:1:2::/64"), c.of("10.0.0.2")]).toEqual([2, 1, 0]);
    c.release("10.0.0.1");
    c.release("10.0.0.1");
    c.release("10.0.0.1"); // one release too many: still 0, not -1
    expect(c.of("10.0.0.1")).toBe(0);
    c.add("10.0.0.1");
    expect(c.of("10.0.0.1")).toBe(1);
  });
});
