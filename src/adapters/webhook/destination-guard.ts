// The SSRF guard of webhook deliveries: a destination host is resolved once, EVERY address it
// resolves to is checked, and the request then connects to the checked address (webhook-http.ts
// hands it to the socket through `lookup`), so a DNS answer that changes between the check and the
// connect (rebinding) cannot reach a refused address. Refused unless an operator allows them:
// loopback, unspecified, link-local, private (RFC 1918, unique-local fc00::/7, site-local fec0::/10), carrier-grade NAT,
// multicast, reserved and benchmark ranges, and IPv4-mapped IPv6 forms of all of these.
import { lookup } from "node:dns/promises";
import { BlockList, isIP } from "node:net";

export interface Destination {
  address: string;
  family: 4 | 6;
}

export class DestinationRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DestinationRefusedError";
  }
}

const REFUSED_V4 = [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["127.0.0.0", 8],
  ["169.254.0.0", 16],
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["224.0.0.0", 4],
  ["240.0.0.0", 4],
] as const;
const REFUSED_V6 = [
  ["::", 128],
  ["::1", 128],
  ["fc00::", 7],
  ["fe80::", 10],
  ["fec0::", 10], // site-local (deprecated by RFC 3879, still routed inside some networks)
  ["ff00::", 8],
] as const;

const MAPPED_V4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i;

/** IPv6 ranges refused outright: local-use NAT64 (RFC 8215), Teredo, discard-only, documentation. */
const REFUSED_V6_EXTRA = [
  ["64:ff9b:1::", 48],
  ["2001::", 32],
  ["100::", 64],
  ["2001:db8::", 32],
] as const;

/** The 8 groups of an IPv6 address (node:net-valid text), or undefined. */
function groupsOf(address: string): number[] | undefined {
  let text = address.toLowerCase();
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes("::") ? text.split("::") : [text, undefined];
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill("0"), ...t];
  return groups.length === 8 ? groups.map((g) => parseInt(g, 16)) : undefined;
}

/**
 * The IPv4 address an IPv6 one carries where the network may deliver it to that IPv4 address: NAT64
 * (64:ff9b::/96, RFC 6052: DNS64 networks, e.g. IPv6-only cloud subnets, where 64:ff9b::a00:5 reaches
 * 10.0.0.5), SIIT IPv4-translated (::ffff:0:0/96), IPv4-compatible (::/96) and 6to4 (2002::/16).
 */
function embeddedIPv4(address: string): string | undefined {
  const g = groupsOf(address);
  if (!g) return undefined;
  const v4 = (hi: number, lo: number) => `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  const zero = (from: number, to: number) => g.slice(from, to).every((x) => x === 0);
  if (g[0] === 0x64 && g[1] === 0xff9b && zero(2, 6)) return v4(g[6]!, g[7]!);
  if (zero(0, 4) && g[4] === 0xffff && g[5] === 0) return v4(g[6]!, g[7]!);
  if (zero(0, 6)) return v4(g[6]!, g[7]!);
  if (g[0] === 0x2002) return v4(g[1]!, g[2]!);
  return undefined;
}

export interface DestinationGuard {
  /** Is this address one the service may connect to? */
  allowed(address: string): boolean;
  /** Resolves `hostname` and answers the address to connect to; throws DestinationRefusedError. */
  resolve(hostname: string): Promise<Destination>;
}

export function createDestinationGuard(opts: {
  allowPrivate: boolean;
  allowedCidrs?: readonly { address: string; prefix: number; family: "ipv4" | "ipv6" }[];
  /** Injected for tests; default: the system resolver. */
  resolveAll?: (hostname: string) => Promise<Destination[]>;
}): DestinationGuard {
  const refused = new BlockList();
  for (const [a, p] of REFUSED_V4) refused.addSubnet(a, p, "ipv4");
  for (const [a, p] of REFUSED_V6) refused.addSubnet(a, p, "ipv6");
  for (const [a, p] of REFUSED_V6_EXTRA) refused.addSubnet(a, p, "ipv6");
  const allowList = new BlockList();
  for (const c of opts.allowedCidrs ?? []) allowList.addSubnet(c.address, c.prefix, c.family);
  const resolveAll =
    opts.resolveAll ??
    (async (hostname: string) =>
      (await lookup(hostname, { all: true, verbatim: true })).map((r) => ({
        address: r.address,
        family: r.family as 4 | 6,
      })));

  const allowed = (address: string): boolean => {
    if (opts.allowPrivate) return true;
    const mapped = MAPPED_V4.exec(address)?.[1];
    const [addr, family] = mapped
      ? [mapped, "ipv4" as const]
      : [address, isIP(address) === 6 ? ("ipv6" as const) : ("ipv4" as const)];
    if (isIP(addr) === 0) return false;
    if (allowList.check(addr, family)) return true;
    if (refused.check(addr, family)) return false;
    // An IPv4 address carried in an IPv6 one (NAT64, 6to4, ...) must pass as that IPv4 address too.
    const inner = family === "ipv6" ? embeddedIPv4(addr) : undefined;
    return inner === undefined || allowList.check(inner, "ipv4") || !refused.check(inner, "ipv4");
  };

  return {
    allowed,
    async resolve(hostname) {
      const host = hostname.startsWith("[") && hostname.endsWith("]") ? hostname.slice(1, -1) : hostname;
      let addresses: Destination[];
      try {
        addresses = await resolveAll(host);
      } catch {
        throw new DestinationRefusedError("destination host does not resolve");
      }
      if (addresses.length === 0) throw new DestinationRefusedError("destination host does not resolve");
      // Every address must be allowed: a name with one public and one private address is refused.
      if (!addresses.every((a) => allowed(a.address)))
        throw new DestinationRefusedError(
          "destination refused: a loopback, link-local, private or unspecified address (WEBHOOK_ALLOW_PRIVATE_DESTINATIONS, WEBHOOK_ALLOWED_CIDRS)",
        );
      return addresses[0]!;
    },
  };
}
