// The client a per-address bound counts: an IPv4 address as it is (an IPv4-mapped IPv6 address
// folded to it), an IPv6 address by its /64 (one subscriber's usual allocation: a single host can
// pick any of 2^64 addresses in it, so counting whole addresses would bound nothing).
import { isIPv4, isIPv6 } from "node:net";

/** The /64 of an IPv6 address ("2001:db8:1:2::/64"), the IPv4 address itself, or undefined. */
export function addressGroupOf(address: string | undefined): string | undefined {
  if (!address) return undefined;
  if (isIPv4(address)) return address;
  if (!isIPv6(address)) return undefined;
  const lower = address.toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (mapped && isIPv4(mapped[1]!)) return mapped[1];
  const [left = "", right] = lower.split("::");
  const words = (s: string) => (s === "" ? [] : s.split(":").flatMap((w) => (w.includes(".") ? ["0", "0"] : [w])));
  const l = words(left);
  const r = right === undefined ? [] : words(right);
  const all = [...l, ...Array<string>(Math.max(0, 8 - l.length - r.length)).fill("0"), ...r];
  return `${all
    .slice(0, 4)
    .map((w) => parseInt(w, 16).toString(16))
    .join(":")}::/64`;
}
