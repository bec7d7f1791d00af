import { EventEmitter } from "node:events";
import type * as net from "node:net";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, openFileLimit } from "../../src/config.js";
import { createConnectionGuard } from "../../src/transport/socket/connection-guard.js";
import { jitteredAge } from "../../src/transport/socket/connection-age.js";

/** A stand-in socket: the guard reads remoteAddress, listens for close and may destroy it. */
function fakeSocket(address: string) {
  const s = new EventEmitter() as EventEmitter & { remoteAddress: string; destroyed: boolean; destroy(): void };
  s.remoteAddress = address;
  s.destroyed = false;
  s.destroy = () => {
    if (s.destroyed) return;
    s.destroyed = true;
    s.emit("close");
  };
  return s;
}
const asSocket = (s: ReturnType<typeof fakeSocket>) => s as unknown as net.Socket;

describe("connection guard", () => {
  it("admits at most maxPerAddress per address, counts refusals, and frees a slot on close", () => {
    const refusals: string[] = [];
    const guard = createConnectionGuard({ maxPerAddress: 2, maxTotal: 100, onRefused: (r) => refusals.push(r) });
    const a = [1, 2, 3].map(() => fakeSocket("10.0.0.1"));
    expect(a.map((s) => guard.admit(asSocket(s)))).toEqual([true, true, false]);
    expect(a[2]!.destroyed).toBe(true);
    expect(guard.admit(asSocket(fakeSocket("10.0.0.2")))).toBe(true); // another address is unaffected
    a[0]!.destroy();
    expect(guard.admit(asSocket(fakeSocket("10.0.0.1")))).toBe(true);
    expect(refusals).toEqual(["per_address"]);
    expect(guard.refused).toEqual({ perAddress: 1, total: 0 });
    expect(guard.open).toBe(3);
  });

  it("counts an IPv6 client by its /64 and an IPv4-mapped address as the IPv4 one (attack finding: one /64 could fill maxTotal)", () => {
    const guard = createConnectionGuard({ maxPerAddress: 2, maxTotal: 100 });
    // One host's /64: a new source address per connection (2^64 to pick from).
    const v6 = ["2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::3", "2001:DB8:1:2:0:0:0:4"];
    expect(v6.map((a) => guard.admit(asSocket(fakeSocket(a))))).toEqual([true, true, false, false]);
    expect(guard.admit(asSocket(fakeSocket("2001:db8:1:3::1")))).toBe(true); // the next /64 is another client
    // The same IPv4 client, written plain and IPv4-mapped (a dual-stack listener reports the latter).
    const v4 = ["10.0.0.9", "::ffff:10.0.0.9", "::FFFF:10.0.0.9"];
    expect(v4.map((a) => guard.admit(asSocket(fakeSocket(a))))).toEqual([true, true, false]);
    expect(guard.refused.perAddress).toBe(3);
  });

  it("evictWhenFull: a newcomer with 2 fewer connections than the biggest address takes that address's oldest place (attack finding: the ops port)", () => {
    const guard = createConnectionGuard({ maxPerAddress: 2, maxTotal: 4, evictWhenFull: true });
    const held = ["10.0.0.1", "10.0.0.1", "10.0.0.2", "10.0.0.2"].map(fakeSocket);
    expect(held.map((s) => guard.admit(asSocket(s)))).toEqual([true, true, true, true]);
    const probe = fakeSocket("10.0.0.3");
    expect(guard.admit(asSocket(probe))).toBe(true);
    expect(held.map((s) => s.destroyed)).toEqual([true, false, false, false]); // 10.0.0.1's oldest
    // The evicted address reconnecting: 1 against the biggest 2, not 2 fewer: refused, the probe stays.
    expect(guard.admit(asSocket(fakeSocket("10.0.0.1")))).toBe(false);
    expect(guard.admit(asSocket(fakeSocket("10.0.0.3")))).toBe(false); // 1 + 2 > 2: no eviction for it either
    expect(probe.destroyed).toBe(false);
    expect(guard.open).toBe(4);
    expect(guard.refused).toEqual({ perAddress: 0, total: 2 });
  });

  it("maxPerAddress 0 is no per-address bound; maxTotal always holds; destroyAll closes every admitted socket", () => {
    const guard = createConnectionGuard({ maxPerAddress: 0, maxTotal: 5 });
    const sockets = Array.from({ length: 7 }, () => fakeSocket("10.0.0.1"));
    expect(sockets.map((s) => guard.admit(asSocket(s)))).toEqual([true, true, true, true, true, false, false]);
    expect(guard.refused.total).toBe(2);
    guard.destroyAll();
    expect(sockets.every((s) => s.destroyed)).toBe(true);
    expect(guard.open).toBe(0);
  });
});

describe("connection limits configuration", () => {
  it("defaults: 256 per address, 100 streams, 16 KiB headers, timeouts 10 s / 30 s / 5 s, a file-descriptor margin", () => {
    const { limits } = loadConfig({});
    expect(limits).toMatchObject({
      maxConnectionsPerAddress: 256,
      maxConcurrentStreams: 100,
      maxHeaderBytes: 16_384,
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
      keepAliveTimeoutMs: 5_000,
    });
    const fds = openFileLimit();
    if (fds !== undefined) expect(limits.maxConnections).toBeLessThanOrEqual(fds - 256);
  });

  it("reads the open-file limit from /proc/self/limits text", () => {
    expect(openFileLimit(() => "Max open files            20000                20000                files\n")).toBe(
      20_000,
    );
    expect(
      openFileLimit(() => "Max open files            unlimited            unlimited            files\n"),
    ).toBeUndefined();
    expect(
      openFileLimit(() => {
        throw new Error("no /proc");
      }),
    ).toBeUndefined();
  });

  it.each([
    ["MAX_CONNECTIONS", { MAX_CONNECTIONS: "10000000" }],
    ["HTTP_HEADERS_TIMEOUT_MS", { HTTP_HEADERS_TIMEOUT_MS: "40000", HTTP_REQUEST_TIMEOUT_MS: "30000" }],
    ["MAX_CONNECTIONS_PER_ADDRESS", { MAX_CONNECTIONS_PER_ADDRESS: "-1" }],
    ["HTTP2_MAX_CONCURRENT_STREAMS", { HTTP2_MAX_CONCURRENT_STREAMS: "0" }],
    ["MAX_HEADER_BYTES", { MAX_HEADER_BYTES: "100" }],
    ["MAX_CONNECTION_AGE_MS", { MAX_CONNECTION_AGE_MS: "500" }],
    ["MAX_CONNECTION_AGE_MS", { MAX_CONNECTION_AGE_MS: "86400001" }],
    ["MAX_CONNECTION_AGE_GRACE_MS", { MAX_CONNECTION_AGE_GRACE_MS: "-1" }],
  ])("a bad %s names the variable", (variable, env) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    try {
      loadConfig(env);
    } catch (e) {
      expect((e as ConfigError).variable).toBe(variable);
    }
  });
});

describe("maximum connection age", () => {
  it("defaults to 5 minutes with a 10 s grace; 0 turns it off", () => {
    expect(loadConfig({}).limits).toMatchObject({ maxConnectionAgeMs: 300_000, maxConnectionAgeGraceMs: 10_000 });
    expect(loadConfig({ MAX_CONNECTION_AGE_MS: "0", MAX_CONNECTION_AGE_GRACE_MS: "0" }).limits).toMatchObject({
      maxConnectionAgeMs: 0,
      maxConnectionAgeGraceMs: 0,
    });
  });

  it("jitters each connection's age by ±10%, like grpc-go and grpc-js", () => {
    expect(jitteredAge(300_000, () => 0)).toBe(270_000);
    expect(jitteredAge(300_000, () => 0.5)).toBe(300_000);
    expect(jitteredAge(300_000, () => 0.999_999)).toBeCloseTo(330_000, -1);
  });
});
