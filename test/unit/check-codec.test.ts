import { randomBytes } from "node:crypto";
import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { CheckRequestSchema } from "../../src/gen/envoy/service/auth/v3/external_auth_pb.js";
import { checkInputOf } from "../../src/service/check-input.js";
import { checkCodecs } from "../../src/transport/grpc/check-codec.js";

/**
 * The grpc-js server decodes CheckRequest with a hand-written projection (check-codec.ts). Check
 * must decide exactly as on protobuf-es's full message: what check-input.ts reads from the fast
 * decode equals what it reads from fromBinary, for Envoy-shaped, unusual and random requests.
 */
const decode = checkCodecs.get(CheckRequestSchema.typeName)!.decode! as (b: Buffer) => unknown;
const bytes = (init: MessageInitShape<typeof CheckRequestSchema>) =>
  Buffer.from(toBinary(CheckRequestSchema, create(CheckRequestSchema, init)));

function expectSameInput(b: Buffer, mustDecode = true) {
  const fast = decode(b);
  if (mustDecode) expect(fast).toBeDefined();
  if (fast === undefined) return;
  expect(checkInputOf(fast as never)).toEqual(checkInputOf(fromBinary(CheckRequestSchema, b)));
}

const peer = (address: string) => ({
  address: {
    address: {
      case: "socketAddress" as const,
      value: { address, portSpecifier: { case: "portValue" as const, value: 443 } },
    },
  },
  principal: "spiffe://cluster.local/ns/a/sa/b",
  labels: { app: "x" },
});

describe("check-codec (the fast CheckRequest decoder)", () => {
  it("is registered for CheckRequest (the schema check passed)", () => {
    expect(checkCodecs.has("envoy.service.auth.v3.CheckRequest")).toBe(true);
  });

  it("an Envoy-shaped request: the same credential, binding, scopes, address and forged names", () => {
    expectSameInput(
      bytes({
        attributes: {
          source: peer("10.1.2.3"),
          destination: peer("10.0.0.10"),
          request: {
            time: timestampNow(),
            http: {
              id: "r1",
              method: "GET",
              headers: {
                ":authority": "api",
                authorization: "Bearer wf_acme_abc",
                "x-warpflow-tenant-id": "evil",
                "X-Warpflow-Admin": "true",
                "user-agent": "ü-agent",
              },
              path: "/p",
              size: -1n,
              body: "ignored",
              rawBody: new Uint8Array([1, 2, 3]),
            },
          },
          contextExtensions: { tenant_id: "acme", required_scopes: "a b" },
          tlsSession: { sni: "api" },
        },
      }),
    );
  });

  it("header_map (encode_raw_headers), repeated authorization entries, raw values", () => {
    expectSameInput(
      bytes({
        attributes: {
          request: {
            http: {
              headerMap: {
                headers: [
                  { key: "authorization", rawValue: Buffer.from("Bearer one") },
                  { key: "Authorization", rawValue: Buffer.from("Bearer two") },
                  { key: "x-warpflow-groups", rawValue: Buffer.from("admins") },
                  { key: "cookie", rawValue: Buffer.from([0xff, 0xfe]) },
                ],
              },
            },
          },
        },
      }),
    );
  });

  it("empty and partial requests", () => {
    expectSameInput(Buffer.alloc(0));
    expectSameInput(bytes({ attributes: {} }));
    expectSameInput(bytes({ attributes: { request: {} } }));
    expectSameInput(bytes({ attributes: { source: {} } }));
  });

  it("a repeated message field merges, and a pipe replaces the socket address, as protobuf-es does", () => {
    const a = bytes({ attributes: { source: peer("10.9.9.9"), contextExtensions: { tenant_id: "one" } } });
    const b = bytes({
      attributes: { request: { http: { headers: { authorization: "Bearer x" } } }, contextExtensions: { other: "2" } },
    });
    expectSameInput(Buffer.concat([a, b]));
    const pipe = bytes({ attributes: { source: { address: { address: { case: "pipe", value: { path: "/s" } } } } } });
    expectSameInput(Buffer.concat([a, pipe]));
  });

  it("a kept value that is not ASCII goes to protobuf-es; truncated input too", () => {
    expect(decode(bytes({ attributes: { request: { http: { headers: { authorization: "Bearer é" } } } } }))).toBe(
      undefined,
    );
    const whole = bytes({ attributes: { contextExtensions: { tenant_id: "acme" } } });
    expect(decode(whole.subarray(0, whole.length - 1))).toBe(undefined);
  });

  it("random requests: the same input whenever the fast decoder answers (and it answers every ASCII one)", () => {
    const names = [
      "authorization",
      "Authorization",
      "x-warpflow-tenant-id",
      "X-WARPFLOW-ADMIN",
      "accept",
      "x-warpflow-",
    ];
    const pick = <T>(xs: T[]) => xs[Math.floor(Math.random() * xs.length)]!;
    for (let i = 0; i < 300; i++) {
      const ascii = Math.random() < 0.7;
      const value = () => (ascii ? randomBytes(6).toString("base64") : pick(["é", "a", "\u{1F600}"]));
      const headers = Object.fromEntries(Array.from({ length: 4 }, () => [pick(names), value()]));
      const raw = Array.from({ length: 3 }, () => ({ key: pick(names), rawValue: randomBytes(4) }));
      const b = bytes({
        attributes: {
          source: peer(ascii ? "192.0.2.1" : "fe80::é"),
          request: { http: Math.random() < 0.5 ? { headers } : { headerMap: { headers: raw } } },
          contextExtensions: { tenant_id: value() },
        },
      });
      expectSameInput(b, ascii);
    }
  });

  it("garbage never throws: undefined, or the same input as protobuf-es", () => {
    for (let i = 0; i < 500; i++) {
      const b = randomBytes(1 + Math.floor(Math.random() * 64));
      const fast = decode(b);
      if (fast === undefined) continue;
      let full;
      try {
        full = fromBinary(CheckRequestSchema, b);
      } catch {
        continue; // a skipped nested part protobuf-es refuses; the parts Check reads decoded fine
      }
      expect(checkInputOf(fast as never)).toEqual(checkInputOf(full));
    }
  });
});
