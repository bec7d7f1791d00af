// IP allowlists (issue 22): a key may carry up to 32 CIDRs (IPv4 and IPv6); a use from any other
// address, or with no address, is refused. CIDRs are stored normalised (host bits cleared,
// RFC 5952 text, IPv4-mapped IPv6 folded to IPv4), and addresses are compared the same way, so
// "::ffff:10.1.2.3" is 10.1.2.3 on both sides. Matching is node:net's BlockList (no address
// IPv6 text is vetted and canonicalised by the WHATWG URL parser (Node's own, strict: no zone ids);
// IPv4 by a strict dotted-quad pattern (no octal or hex forms). The domain imports no node:net
// (its fence), so matching is a byte-prefix comparison, cross-checked against node:net's BlockList
// by test/unit/address-allowlist.test.ts. Validation never echoes a value.
import { invalidArgument } from "./errors.js";

export const MAX_ALLOWED_CIDRS = 32;
const MAX_ADDRESS_TEXT = 64;
const OCTET = "(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)";
const IPV4 = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}$`);
const IPV6_CHARS = /^[0-9A-Fa-f:.]{2,45}$/;

/** Canonical IPv6 text (RFC 5952, lower case), or undefined when `text` is not an IPv6 address. */
function canonicalV6(text: string): string | undefined {
  if (!IPV6_CHARS.test(text) || !text.includes(":")) return undefined;
  try {
    return new URL(`http://[${text}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
}

export interface ParsedAddress {
  family: "ipv4" | "ipv6";
  bytes: number[];
}
type Parsed = ParsedAddress;

/** An IPv6 address (no zone, no brackets) as 16 bytes; the URL parser has vetted its syntax. */
function v6Bytes(text: string): number[] {
  const lastColon = text.lastIndexOf(":");
  const tail = text.slice(lastColon + 1);
  if (tail.includes(".")) {
    // A dotted IPv4 tail is two 16-bit words.
    const [a = 0, b = 0, c = 0, d = 0] = tail.split(".").map(Number);
    text = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [left = "", right] = text.split("::");
  const words = (s: string) => (s === "" ? [] : s.split(":").map((w) => parseInt(w, 16)));
  const l = words(left);
  const r = right === undefined ? [] : words(right);
  const all = [...l, ...Array<number>(right === undefined ? 0 : Math.max(0, 8 - l.length - r.length)).fill(0), ...r];
  return all.flatMap((w) => [w >> 8, w & 0xff]);
}

/** An address as bytes, IPv4-mapped IPv6 folded to IPv4; undefined when not an IP address. */
export function parseAddress(text: string): Parsed | undefined {
  if (text.length > MAX_ADDRESS_TEXT) return undefined;
  if (IPV4.test(text)) return { family: "ipv4", bytes: text.split(".").map(Number) };
  const canonical = canonicalV6(text);
  if (canonical === undefined) return undefined;
  const bytes = v6Bytes(canonical);
  if (bytes.length !== 16) return undefined;
  const mapped = bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  return mapped ? { family: "ipv4", bytes: bytes.slice(12) } : { family: "ipv6", bytes };
}

function format(p: Parsed): string {
  if (p.family === "ipv4") return p.bytes.join(".");
  const words = [] as string[];
  for (let i = 0; i < 16; i += 2) words.push(((p.bytes[i]! << 8) | p.bytes[i + 1]!).toString(16));
  // RFC 5952 via the WHATWG URL parser (longest zero run compressed, lower case).
  return new URL(`http://[${words.join(":")}]/`).hostname.slice(1, -1);
}

/** A CIDR (or a bare address: a /32 or /128) normalised; undefined when not one. */
export function normaliseCidr(text: string): string | undefined {
  const slash = text.indexOf("/");
  const addrText = slash < 0 ? text : text.slice(0, slash);
  const lenText = slash < 0 ? undefined : text.slice(slash + 1);
  const addr = parseAddress(addrText);
  if (addr === undefined) return undefined;
  const wasV6 = addrText.includes(":");
  const max = addr.family === "ipv4" ? 32 : 128;
  let len = max;
  if (lenText !== undefined) {
    if (!/^\d{1,3}$/.test(lenText)) return undefined;
    len = Number(lenText);
    // An IPv4-mapped IPv6 prefix (::ffff:10.0.0.0/104) is the IPv4 prefix /8.
    if (wasV6 && addr.family === "ipv4") {
      if (len < 96) return undefined;
      len -= 96;
    }
    if (len > max) return undefined;
  }
  const bytes = addr.bytes.map((b, i) => {
    const keep = Math.max(0, Math.min(8, len - 8 * i));
    return b & ((0xff << (8 - keep)) & 0xff);
  });
  return `${format({ family: addr.family, bytes })}/${len}`;
}

/** A key's allowlist, validated and normalised (duplicates dropped); undefined when none. */
export function requireCidrs(values: readonly string[], field = "allowed_cidrs"): string[] | undefined {
  if (values.length > 4 * MAX_ALLOWED_CIDRS) throw invalidArgument(field, `at most ${MAX_ALLOWED_CIDRS} CIDRs`);
  const out = new Set<string>();
  values.forEach((v, i) => {
    const cidr = typeof v === "string" ? normaliseCidr(v) : undefined;
    if (cidr === undefined) {
      throw invalidArgument(`${field}[${i}]`, "must be an IPv4 or IPv6 CIDR (e.g. 10.0.0.0/8, 2001:db8::/32)");
    }
    out.add(cidr);
  });
  if (out.size > MAX_ALLOWED_CIDRS) throw invalidArgument(field, `at most ${MAX_ALLOWED_CIDRS} CIDRs`);
  return out.size === 0 ? undefined : [...out];
}

/** A client address as checked against allowlists (IPv4-mapped folded); undefined when none given. */
export function requireClientAddress(value: string, field = "client_address"): string | undefined {
  if (value === "") return undefined;
  // The common case, per call on Check and /authz: a dotted quad the pattern accepts is already its
  // own normal form (no leading zeros, no other notation), so it needs no parse and no format.
  if (IPV4.test(value)) return value;
  const p = parseAddress(value);
  if (p === undefined) throw invalidArgument(field, "must be an IPv4 or IPv6 address without port or zone");
  return format(p);
}

/** Parsed allowlists by the (stable, cached) array of the record that carries them. */
const compiled = new WeakMap<readonly string[], Parsed[] & { lengths?: number[] }>();

function rulesOf(cidrs: readonly string[]): { nets: Parsed[]; lengths: number[] } {
  let nets = compiled.get(cidrs);
  if (nets === undefined) {
    const lengths: number[] = [];
    nets = Object.assign(
      cidrs.map((cidr) => {
        const [net, len] = cidr.split("/") as [string, string];
        lengths.push(Number(len));
        return parseAddress(net)!;
      }),
      { lengths },
    );
    compiled.set(cidrs, nets);
  }
  return { nets, lengths: nets.lengths! };
}

function inPrefix(net: Parsed, len: number, addr: Parsed): boolean {
  if (net.family !== addr.family) return false;
  for (let i = 0; len > 0; i++, len -= 8) {
    const mask = len >= 8 ? 0xff : (0xff << (8 - len)) & 0xff;
    if ((net.bytes[i]! & mask) !== (addr.bytes[i]! & mask)) return false;
  }
  return true;
}

/**
 * May a token whose allowlist is `cidrs` (undefined or empty: none, any address) be used from
 * `address` (normalised by requireClientAddress; undefined: none given)?
 */
export function addressAllowed(cidrs: readonly string[] | undefined, address: string | undefined): boolean {
  if (cidrs === undefined || cidrs.length === 0) return true;
  if (address === undefined) return false;
  const addr = parseAddress(address);
  if (addr === undefined) return false;
  const { nets, lengths } = rulesOf(cidrs);
  for (let i = 0; i < nets.length; i++) if (inPrefix(nets[i]!, lengths[i]!, addr)) return true;
  return false;
}
