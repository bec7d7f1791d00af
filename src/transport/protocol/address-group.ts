// The client a per-address bound counts: an IPv4 address as it is (an IPv4-mapped IPv6 address
// folded to it), an IPv6 address by its /64 (one subscriber's usual allocation: a single host can
// pick any of 2^64 addresses in it, so counting whole addresses would bound nothing), an IPv4
// address carried in IPv6 (NAT64's 64:ff9b::/96) as that IPv4 address.
import { isIPv4, isIPv6 } from "node:net";

/** The /64 of an IPv6 address ("2001:db8:1:2::/64"), the IPv4 address (itself or carried), or undefined. */
export function addressGroupOf(address: string | undefined): string | undefined {
  if (!address) return undefined;
  if (isIPv4(address)) return address;
  if (!isIPv6(address)) return undefined;
  const lower = address.toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (mapped && isIPv4(mapped[1]!)) return mapped[1];
  const [left = "", right] = lower.split("::");
  const words = (s: string) => (s === "" ? [] : s.split(":").flatMap(hexWords));
  const l = words(left);
  const r = right === undefined ? [] : words(right);
  const all = [...l, ...Array<number>(Math.max(0, 8 - l.length - r.length)).fill(0), ...r];
  // An IPv4 address carried in IPv6 (however written): the IPv4 client it stands for. The NAT64
  // well-known prefix 64:ff9b::/96 (RFC 6052) puts every IPv4 client of a NAT64/SIIT front in
  // one /64; counted by /64, they would all share one client's places.
  const [a = 0, b = 0, c = 0, d = 0, e = 0, f = 0, g = 0, h = 0] = all;
  const mappedHex = a === 0 && b === 0 && c === 0 && d === 0 && e === 0 && f === 0xffff;
  const nat64 = a === 0x64 && b === 0xff9b && c === 0 && d === 0 && e === 0 && f === 0;
  if (mappedHex || nat64) return `${g >> 8}.${g & 0xff}.${h >> 8}.${h & 0xff}`;
  return `${all
    .slice(0, 4)
    .map((w) => w.toString(16))
    .join(":")}::/64`;
}

/** One group of an IPv6 address as 16-bit words: "db8" is one, a dotted IPv4 tail is two. */
function hexWords(w: string): number[] {
  if (!w.includes(".")) return [parseInt(w, 16)];
  const [p = 0, q = 0, r = 0, s = 0] = w.split(".").map(Number);
  return [(p << 8) | q, (r << 8) | s];
}
