import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { createDestinationGuard, type Destination } from "../../src/adapters/webhook/destination-guard.js";
import { createHttpDelivery } from "../../src/adapters/webhook/webhook-http.js";

/** The SSRF guard of webhook deliveries: which addresses are refused, and that the checked address is the one connected to. */
describe("webhook destination guard", () => {
  const guard = createDestinationGuard({ allowPrivate: false });

  it("refuses loopback, unspecified, link-local, private, CGNAT, multicast and IPv4-mapped forms; allows public addresses", () => {
    for (const a of [
      "127.0.0.1",
      "127.5.6.7",
      "0.0.0.0",
      "10.1.2.3",
      "172.16.0.1",
      "172.31.255.255",
      "192.168.1.1",
      "169.254.169.254", // cloud metadata
      "100.64.0.1",
      "224.0.0.1",
      "255.255.255.255",
      "::1",
      "::",
      "fe80::1",
      "fec0::1", // deprecated site-local (RFC 3879): still routed inside some networks
      "feff::1",
      "fc00::1",
      "fd12:3456::1",
      "ff02::1",
      "::ffff:127.0.0.1",
      "::ffff:10.0.0.1",
      "::ffff:169.254.169.254",
    ])
      expect(guard.allowed(a), a).toBe(false);
    for (const a of ["93.184.216.34", "8.8.8.8", "172.32.0.1", "2606:4700::1111", "::ffff:8.8.8.8"])
      expect(guard.allowed(a), a).toBe(true);
  });

  it("refuses private IPv4 carried in IPv6: NAT64 (64:ff9b::/96), SIIT, IPv4-compatible, 6to4; local NAT64 and Teredo outright (attack finding)", () => {
    for (const a of [
      "64:ff9b::7f00:1", // NAT64 of 127.0.0.1
      "64:ff9b::a9fe:a9fe", // 169.254.169.254 through a DNS64/NAT64 gateway
      "64:ff9b::10.0.0.5",
      "64:ff9b:1::808:808", // local-use NAT64 (RFC 8215)
      "::ffff:0:7f00:1", // SIIT IPv4-translated
      "::127.0.0.1", // IPv4-compatible
      "::a00:1",
      "2002:a00:1::1", // 6to4 of 10.0.0.1
      "2002:7f00:1::",
      "2001:0:4136:e378:8000:63bf:3fff:fdd2", // Teredo
      "2001:db8::1",
    ])
      expect(guard.allowed(a), a).toBe(false);
    for (const a of ["64:ff9b::808:808", "64:ff9b::8.8.8.8", "2002:808:808::1", "2600:1f18::1"])
      expect(guard.allowed(a), a).toBe(true);
    const tenOne = createDestinationGuard({
      allowPrivate: false,
      allowedCidrs: [{ address: "10.1.2.0", prefix: 24, family: "ipv4" }],
    });
    expect(tenOne.allowed("64:ff9b::a01:209")).toBe(true);
  });

  it("allows what an operator allows: everything (WEBHOOK_ALLOW_PRIVATE_DESTINATIONS) or listed CIDRs (WEBHOOK_ALLOWED_CIDRS)", () => {
    expect(createDestinationGuard({ allowPrivate: true }).allowed("127.0.0.1")).toBe(true);
    const some = createDestinationGuard({
      allowPrivate: false,
      allowedCidrs: [
        { address: "10.1.2.0", prefix: 24, family: "ipv4" },
        { address: "fd00::", prefix: 8, family: "ipv6" },
      ],
    });
    expect(some.allowed("10.1.2.9")).toBe(true);
    expect(some.allowed("10.1.3.9")).toBe(false);
    expect(some.allowed("fd00::5")).toBe(true);
    expect(some.allowed("127.0.0.1")).toBe(false);
  });

  it("refuses a name when ANY of its addresses is refused, and a name that does not resolve", async () => {
    const resolving = (answers: Record<string, Destination[]>) =>
      createDestinationGuard({
        allowPrivate: false,
        resolveAll: async (h) => {
          const a = answers[h];
          if (!a) throw new Error("ENOTFOUND");
          return a;
        },
      });
    const g = resolving({
      "mixed.example": [
        { address: "93.184.216.34", family: 4 },
        { address: "10.0.0.1", family: 4 },
      ],
      "public.example": [{ address: "93.184.216.34", family: 4 }],
    });
    await expect(g.resolve("mixed.example")).rejects.toThrow(/destination refused/);
    await expect(g.resolve("nowhere.example")).rejects.toThrow(/does not resolve/);
    await expect(g.resolve("public.example")).resolves.toEqual({ address: "93.184.216.34", family: 4 });
    await expect(guard.resolve("[::1]")).rejects.toThrow(/destination refused/);
    await expect(guard.resolve("localhost")).rejects.toThrow(/destination refused/);
  });

  it("connects to the address it checked, not to a second answer of the resolver (no DNS rebinding)", async () => {
    const server = createServer((_req, res) => res.writeHead(204).end());
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as AddressInfo).port;
    try {
      let lookups = 0;
      // First answer: the (allowed) loopback test server; any later answer would be elsewhere.
      const rebinding = createDestinationGuard({
        allowPrivate: true,
        resolveAll: async () =>
          lookups++ === 0 ? [{ address: "127.0.0.1", family: 4 }] : [{ address: "192.0.2.1", family: 4 }],
      });
      const deliver = createHttpDelivery({ guard: rebinding, timeoutMs: 2000, maxResponseBytes: 1024 });
      expect(await deliver(`http://rebind.example:${port}/`, {}, "{}")).toEqual({ ok: true, status: 204 });
      expect(lookups).toBe(1);
      // Refused before any connection: the server sees nothing.
      const refusing = createHttpDelivery({ guard, timeoutMs: 2000, maxResponseBytes: 1024 });
      const out = await refusing(`http://127.0.0.1:${port}/`, {}, "{}");
      expect(out).toMatchObject({ ok: false, refused: true });
    } finally {
      server.close();
    }
  });

  it("bounds a delivery: a redirect is a failure (not followed), a slow receiver times out, a huge response is cut", async () => {
    let mode = "redirect";
    const server = createServer((_req, res) => {
      if (mode === "redirect") res.writeHead(307, { location: "http://169.254.169.254/" }).end();
      else if (mode === "huge") {
        res.writeHead(200);
        const chunk = Buffer.alloc(64 * 1024, 120);
        const pump = () => {
          while (res.write(chunk)) {
            /* keep writing until the client stops reading */
          }
          res.once("drain", pump);
        };
        pump();
        res.on("close", () => res.removeAllListeners("drain"));
      } // "slow": never answers
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as AddressInfo).port;
    const deliver = createHttpDelivery({
      guard: createDestinationGuard({ allowPrivate: true }),
      timeoutMs: 300,
      maxResponseBytes: 4096,
    });
    try {
      expect(await deliver(`http://127.0.0.1:${port}/`, {}, "{}")).toEqual({ ok: false, failure: "HTTP 307" });
      mode = "slow";
      const started = Date.now();
      expect(await deliver(`http://127.0.0.1:${port}/`, {}, "{}")).toEqual({ ok: false, failure: "timeout" });
      expect(Date.now() - started).toBeLessThan(3000);
      mode = "huge";
      expect(await deliver(`http://127.0.0.1:${port}/`, {}, "{}")).toEqual({ ok: true, status: 200 });
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});
