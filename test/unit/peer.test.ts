import { describe, expect, it } from "vitest";
import { connectProtocolOf, peerOf } from "../../src/transport/protocol/peer.js";

describe("audit request fields", () => {
  it("peerOf: ip:port, IPv6 in brackets, nothing for a socket without an address", () => {
    expect(peerOf({ remoteAddress: "10.0.0.7", remotePort: 51234 })).toBe("10.0.0.7:51234");
    expect(peerOf({ remoteAddress: "::1", remotePort: 80 })).toBe("[::1]:80");
    expect(peerOf({})).toBeUndefined();
    expect(peerOf(undefined)).toBeUndefined();
  });

  it("connectProtocolOf: grpc-web, grpc or connect from the content type", () => {
    expect(connectProtocolOf("application/grpc-web+proto")).toBe("grpc-web");
    expect(connectProtocolOf("application/grpc+proto")).toBe("grpc");
    expect(connectProtocolOf("application/json")).toBe("connect");
    expect(connectProtocolOf("application/connect+proto")).toBe("connect");
    expect(connectProtocolOf(null)).toBe("connect");
  });
});
