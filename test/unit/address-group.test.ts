// The client a per-address bound counts (secret-scanning alerts in flight): IPv4 as it is, an
// IPv4-mapped IPv6 address as its IPv4, IPv6 by its /64 (one host can use any address in it).
import { describe, expect, it } from "vitest";
import { addressGroupOf } from "../../src/domain/address-group.js";

describe("addressGroupOf", () => {
  it("keeps an IPv4 address and folds an IPv4-mapped one to it", () => {
    expect(addressGroupOf("203.0.113.7")).toBe("203.0.113.7");
    expect(addressGroupOf("::ffff:203.0.113.7")).toBe("203.0.113.7");
    expect(addressGroupOf("::FFFF:203.0.113.7")).toBe("203.0.113.7");
  });

  it("groups IPv6 addresses by their /64, however written", () => {
    const a = addressGroupOf("2001:db8:1:2::1");
    expect(a).toBe("2001:db8:1:2::/64");
    expect(addressGroupOf("2001:0db8:0001:0002:ffff:ffff:ffff:ffff")).toBe(a);
    expect(addressGroupOf("2001:DB8:1:2:a:b:c:d")).toBe(a);
    expect(addressGroupOf("2001:db8:1:3::1")).not.toBe(a);
    expect(addressGroupOf("::1")).toBe("0:0:0:0::/64");
    expect(addressGroupOf("fe80::1")).toBe("fe80:0:0:0::/64");
    expect(addressGroupOf("2001:db8::")).toBe("2001:db8:0:0::/64");
    expect(addressGroupOf("::2001:db8:1:2:3")).toBe("0:0:0:2001::/64");
  });

  it("an IPv4 client carried in IPv6 (NAT64 64:ff9b::/96, a mapped address in hex) is that IPv4 client", () => {
    // Review (session 32): by /64, every IPv4 client of a NAT64/SIIT front was one group, so one
    // sender holding its places (it may name a real, public key identifier) kept every other out.
    expect(addressGroupOf("64:ff9b::cb00:7107")).toBe("203.0.113.7");
    expect(addressGroupOf("64:ff9b::203.0.113.7")).toBe("203.0.113.7");
    expect(addressGroupOf("64:FF9B:0:0:0:0:CB00:7108")).toBe("203.0.113.8");
    expect(addressGroupOf("64:ff9b::cb00:7107")).not.toBe(addressGroupOf("64:ff9b::c633:6407"));
    expect(addressGroupOf("::ffff:cb00:7107")).toBe("203.0.113.7");
    // Not the well-known prefix: an ordinary /64.
    expect(addressGroupOf("64:ff9b:1::cb00:7107")).toBe("64:ff9b:1:0::/64");
    expect(addressGroupOf("64:ff9b::1:cb00:7107")).toBe("64:ff9b:0:0::/64");
  });

  it("is undefined for no address or not an address", () => {
    expect(addressGroupOf(undefined)).toBeUndefined();
    expect(addressGroupOf("")).toBeUndefined();
    expect(addressGroupOf("not-an-address")).toBeUndefined();
  });
});
