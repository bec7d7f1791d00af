// The client a per-address bound counts: an IPv4 address as it is (an IPv4-mapped IPv6 address
// folded to it), an IPv6 address by its /64 (one subscriber's usual allocation: a single host can
// pick any of 2^64 addresses in it, so counting whole addresses would bound nothing), an IPv4
// address carried in IPv6 (NAT64's 64:ff9b::/96) as that IPv4 address. One rule for every bound:
// the transport's connection, stream and alert-body limits and the audit trail's refusal windows.
// Addresses are parsed by address-allowlist's parser (the domain imports no node:net).
import { parseAddress } from "./address-allowlist.js";

/** The /64 of an IPv6 address ("2001:db8:1:2::/64"), the IPv4 address (itself or carried), or undefined. */
export function addressGroupOf(address: string | undefined): string | undefined {
  if (!address) return undefined;
  const parsed = parseAddress(address); // IPv4-mapped (dotted or hex) is folded to IPv4 here
  if (parsed === undefined) return undefined;
  const b = parsed.bytes;
  if (parsed.family === "ipv4") return b.join(".");
  // NAT64's well-known prefix 64:ff9b::/96 (RFC 6052) puts every IPv4 client of a NAT64/SIIT front
  // in one /64; counted by /64, they would all share one client's places.
  if (b[0] === 0 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && b.slice(4, 12).every((x) => x === 0))
    return b.slice(12).join(".");
  const word = (i: number) => ((b[i]! << 8) | b[i + 1]!).toString(16);
  return `${word(0)}:${word(2)}:${word(4)}:${word(6)}::/64`;
}
