import { BlockList } from "node:net";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  addressAllowed,
  normaliseCidr,
  requireCidrs,
  requireClientAddress,
} from "../../src/domain/address-allowlist.js";
import { DomainError } from "../../src/domain/errors.js";

const refusal = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(DomainError);
    expect((e as DomainError).code).toBe("invalid_argument");
    return (e as Error).message;
  }
  throw new Error("accepted");
};

describe("IP allowlists (issue 22)", () => {
  it("normalises CIDRs: host bits cleared, RFC 5952 text, bare address = host route, IPv4-mapped folded to IPv4", () => {
    const cases: [string, string][] = [
      ["10.1.2.3/8", "10.0.0.0/8"],
      ["192.168.1.7", "192.168.1.7/32"],
      ["0.0.0.0/0", "0.0.0.0/0"],
      ["2001:DB8:0:0:0:0:0:1/32", "2001:db8::/32"],
      ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1/128"],
      ["::/0", "::/0"],
      ["::1", "::1/128"],
      ["::ffff:10.1.2.3", "10.1.2.3/32"],
      ["::ffff:10.1.2.3/104", "10.0.0.0/8"],
      ["::FFFF:a01:203/120", "10.1.2.0/24"],
      ["fe80::1:2:3:4/64", "fe80::/64"],
    ];
    for (const [given, want] of cases) expect([given, normaliseCidr(given)]).toEqual([given, want]);
    expect(requireCidrs(["10.1.0.0/16", "10.1.2.3/16", "::ffff:10.1.9.9/112"])).toEqual(["10.1.0.0/16"]);
    expect(requireCidrs([])).toBeUndefined();
  });

  it("refuses what is not a CIDR with INVALID_ARGUMENT naming the field and position, never the value", () => {
    const bad = [
      "10.0.0.0/33",
      "::/129",
      "1.2.3",
      "01.2.3.4",
      "1.2.3.4/-1",
      "1.2.3.4/ 8",
      "0x7f.0.0.1",
      "fe80::1%eth0",
      "[::1]",
      "::ffff:1.2.3.4/64",
      "wf_secret_looking_value",
      "10.0.0.0/8/8",
      "",
      "1.2.3.4\n",
      "a".repeat(10_000),
    ];
    for (const v of bad) {
      const message = refusal(() => requireCidrs(["10.0.0.0/8", v]));
      expect(message).toMatch(/^allowed_cidrs\[1\]: must be an IPv4 or IPv6 CIDR/);
      if (v.length > 3) expect(message).not.toContain(v.trim());
    }
    expect(refusal(() => requireCidrs(Array.from({ length: 33 }, (_, i) => `10.0.${i}.0/24`)))).toBe(
      "allowed_cidrs: at most 32 CIDRs",
    );
    // Duplicates collapse before the count.
    expect(requireCidrs(Array.from({ length: 40 }, () => "10.0.0.0/8"))).toEqual(["10.0.0.0/8"]);
  });

  it("client addresses: bare IPv4/IPv6 only, normalised (IPv4-mapped folded)", () => {
    expect(requireClientAddress("")).toBeUndefined();
    expect(requireClientAddress("::ffff:10.9.9.9")).toBe("10.9.9.9");
    expect(requireClientAddress("2001:DB8::0:1")).toBe("2001:db8::1");
    for (const v of ["10.0.0.1:443", "[::1]", "10.0.0.0/8", "localhost", "fe80::1%lo"]) {
      expect(refusal(() => requireClientAddress(v))).toBe(
        "client_address: must be an IPv4 or IPv6 address without port or zone",
      );
    }
  });

  it("no allowlist: any address or none; an allowlist: only addresses inside it, never none", () => {
    expect(addressAllowed(undefined, undefined)).toBe(true);
    expect(addressAllowed(undefined, "1.2.3.4")).toBe(true);
    const list = requireCidrs(["10.0.0.0/8", "2001:db8::/32"])!;
    expect(addressAllowed(list, undefined)).toBe(false);
    expect(addressAllowed(list, "10.200.1.1")).toBe(true);
    expect(addressAllowed(list, requireClientAddress("::ffff:10.200.1.1"))).toBe(true);
    expect(addressAllowed(list, "11.0.0.1")).toBe(false);
    expect(addressAllowed(list, "2001:db8:ffff::1")).toBe(true);
    expect(addressAllowed(list, "2001:db9::1")).toBe(false);
    // An IPv4 rule does not match an IPv6 address that merely ends in its bytes.
    expect(addressAllowed(list, requireClientAddress("::a00:1"))).toBe(false);
    // A mapped-IPv6 rule is an IPv4 rule.
    expect(addressAllowed(requireCidrs(["::ffff:192.168.0.0/112"]), "192.168.3.4")).toBe(true);
  });

  it("matches exactly as node:net's BlockList does, over random prefixes and addresses (IPv4, IPv6, mapped)", () => {
    const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((b) => b.join("."));
    const v6 = fc
      .array(fc.nat(0xffff), { minLength: 8, maxLength: 8 })
      .map((w) => w.map((x) => x.toString(16)).join(":"));
    // Addresses near a prefix share its leading bits often enough to exercise the boundary.
    fc.assert(
      fc.property(
        fc.oneof(
          fc.tuple(v4, fc.nat(32), v4).map(([n, l, a]) => ({ family: "ipv4" as const, n, l, a })),
          fc.tuple(v6, fc.nat(128), v6).map(([n, l, a]) => ({ family: "ipv6" as const, n, l, a })),
        ),
        fc.boolean(),
        ({ family, n, l, a }, near) => {
          // "near": the address is the network with its last byte changed (inside for short prefixes).
          const addr = near ? n.replace(/[0-9a-f]+$/, family === "ipv4" ? "7" : "7") : a;
          const cidr = normaliseCidr(`${n}/${l}`)!;
          const [net, len] = cidr.split("/") as [string, string];
          const reference = new BlockList();
          reference.addSubnet(net, Number(len), family);
          const want = reference.check(addr, family);
          expect(addressAllowed([cidr], requireClientAddress(addr))).toBe(want);
          if (family === "ipv4") {
            // The same address as IPv4-mapped IPv6 is the same answer.
            expect(addressAllowed([cidr], requireClientAddress(`::ffff:${addr}`))).toBe(want);
          }
        },
      ),
      { numRuns: 3000 },
    );
  });
});
