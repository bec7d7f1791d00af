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

  it("decodes only what Check reads: an unrelated extension or header that is not ASCII keeps the fast path", () => {
    // The old decoder turned every context extension into strings and gave up on a non-ASCII one.
    const b = bytes({
      attributes: {
        request: { http: { headers: { authorization: "Bearer wf_acme_abc", "user-agent": "ü-agent" } } },
        contextExtensions: { tenant_id: "acme", route_note: "café", clé: "x" },
      },
    });
    const fast = decode(b) as { attributes: { contextExtensions: Record<string, string> } } | undefined;
    expect(fast).toBeDefined();
    expect(Object.keys(fast!.attributes.contextExtensions)).toEqual(["tenant_id"]);
    expectSameInput(b);
  });

  it("invalid UTF-8 in a string Check does not read is not judged (protobuf-es refuses the whole message); in the credential it is", () => {
    // A deliberate difference (attack review, session 32): Envoy's legacy `headers` map carries a
    // client's obs-text bytes as they came, and a header the service never reads must not turn a
    // valid credential into a refusal. The credential itself is never read from invalid bytes.
    const withBytes = (value: string, at: "user-agent" | "authorization") => {
      const headers: Record<string, string> = { authorization: "Bearer wf_acme_abc", "user-agent": "agent" };
      headers[at] = value;
      const b = bytes({ attributes: { request: { http: { headers, method: "GET" } } } });
      const i = b.indexOf("ZZ");
      b[i] = 0xff;
      b[i + 1] = 0xfe;
      return b;
    };
    const unrelated = withBytes("ZZ-agent", "user-agent");
    expect(() => fromBinary(CheckRequestSchema, unrelated)).toThrow();
    const fast = decode(unrelated);
    expect(fast).toBeDefined();
    expect(checkInputOf(fast as never).authorization).toBe("Bearer wf_acme_abc");
    // In the authorization value: not for the fast decoder (protobuf-es then refuses the request).
    expect(decode(withBytes("Bearer wf_acme_ZZ", "authorization"))).toBeUndefined();
  });

  it("a tag protobuf-es refuses (over 5 bytes, or past uint32) is not for the fast decoder either", () => {
    // Review (session 32): such a tag was read as a valid one (padded) or skipped as an unknown
    // field (past uint32), so the fast decoder judged a message protobuf-es refuses outright,
    // here with another tenant binding than the one protobuf-es would ever read.
    const base = bytes({ attributes: { request: { http: { headers: { authorization: "Bearer wf_acme_abc" } } } } });
    const extra = bytes({ attributes: { contextExtensions: { tenant_id: "other" } } }); // 0x0a <len> ...
    const withTag = (tag: number[]) => Buffer.concat([base, Buffer.from(tag), extra.subarray(1)]);
    const padded = withTag([0x8a, 0x80, 0x80, 0x80, 0x80, 0x00]); // field 1, LEN, in 6 bytes
    const overflow = withTag([0x8a, 0x80, 0x80, 0x80, 0x10]); // bit 32 set
    for (const b of [padded, overflow]) {
      expect(() => fromBinary(CheckRequestSchema, b)).toThrow(/illegal tag/);
      expect(decode(b)).toBeUndefined();
    }
    // The longest tag protobuf-es takes (5 bytes, within uint32) still decodes, as on protobuf-es.
    expectSameInput(withTag([0x8a, 0x80, 0x80, 0x80, 0x00]));
  });

  it("a map entry of an unusual shape (key repeated, value first, extra fields) decodes as protobuf-es's", () => {
    const str = (field: number, s: string) => {
      const v = Buffer.from(s, "latin1");
      return Buffer.concat([Buffer.from([(field << 3) | 2, v.length]), v]);
    };
    const len = (field: number, body: Buffer) => Buffer.concat([Buffer.from([(field << 3) | 2, body.length]), body]);
    const request = (...entries: Buffer[]) => len(1, len(4, len(2, Buffer.concat(entries.map((e) => len(3, e)))))); // attributes.request.http.headers
    const cases = [
      Buffer.concat([str(1, "accept"), str(1, "authorization"), str(2, "Bearer wf_acme_abc")]), // last key wins
      Buffer.concat([str(1, "authorization"), str(2, "Bearer wf_acme_abc"), str(1, "accept")]), // ... also this way
      Buffer.concat([str(2, "Bearer wf_acme_abc"), str(1, "authorization")]), // value first
      Buffer.concat([str(1, "authorization"), str(2, "Bearer one"), str(2, "Bearer wf_acme_abc")]), // last value wins
      Buffer.concat([str(1, "authorization"), str(2, "Bearer wf_acme_abc"), Buffer.from([0x18, 0x01])]), // unknown field
      str(1, "authorization"), // no value: ""
    ];
    for (const entry of cases) {
      const b = request(entry, Buffer.concat([str(1, "x-warpflow-admin"), str(2, "true")]));
      expectSameInput(b);
    }
    const lastKey = checkInputOf(decode(request(cases[0]!)) as never);
    expect(lastKey.authorizationCount).toBe(1);
    expect(lastKey.authorization).toBe("Bearer wf_acme_abc");
  });

  it("mutated Envoy requests (flipped, cut, repeated bytes) never throw; re-encoded, they decode as on protobuf-es", () => {
    const seed = bytes({
      attributes: {
        source: peer("10.1.2.3"),
        destination: peer("10.0.0.10"),
        request: {
          time: timestampNow(),
          http: {
            id: "r1",
            method: "GET",
            headers: { ":path": "/p", authorization: "Bearer wf_acme_abc", "x-warpflow-admin": "1", accept: "*/*" },
            headerMap: { headers: [{ key: "Authorization", rawValue: Buffer.from("Bearer wf_acme_abc") }] },
          },
        },
        contextExtensions: { tenant_id: "acme", required_scopes: "a b", other: "z" },
      },
    });
    let compared = 0;
    for (let i = 0; i < 3000; i++) {
      const b = Buffer.from(seed);
      const kind = i % 3;
      let m: Buffer = b;
      if (kind === 0)
        for (let j = 0; j < 1 + (i % 4); j++) b[Math.floor(Math.random() * b.length)] = randomBytes(1)[0]!;
      else if (kind === 1) m = b.subarray(0, Math.floor(Math.random() * b.length));
      else {
        const at = Math.floor(Math.random() * b.length);
        const n = 1 + Math.floor(Math.random() * 16);
        m = Buffer.concat([b.subarray(0, at), b.subarray(at, at + n), b.subarray(at)]);
      }
      decode(m); // never throws: a message or undefined (protobuf-es then decides)
      // The raw mutation is not compared: protobuf-es does not check a nested message's length
      // against its parent's, so where a part Check does not read (destination, labels) overruns
      // its parent it reads on into the next fields, while the fast decoder steps over the part as
      // its parent's length says (the same on main's decoder). Envoy never sends such bytes, and
      // either reading is a request the caller could have sent well formed. Re-encoded by
      // protobuf-es, the mutation is a well-formed (often odd) request: both must agree on it.
      let canonical;
      try {
        canonical = Buffer.from(toBinary(CheckRequestSchema, fromBinary(CheckRequestSchema, m)));
      } catch {
        continue;
      }
      const fast = decode(canonical);
      if (fast === undefined) continue;
      let reference;
      try {
        reference = checkInputOf(fromBinary(CheckRequestSchema, canonical));
      } catch (err) {
        expect(() => checkInputOf(fast as never)).toThrow((err as Error).message);
        continue;
      }
      expect(checkInputOf(fast as never)).toEqual(reference);
      compared++;
    }
    expect(compared).toBeGreaterThan(100); // the mutations mostly keep a decodable request
  });

  it("hostile sizes: 20,000 headers and 5,000 x-warpflow-* names decode in bounded time, refused as on protobuf-es", () => {
    const headers: Record<string, string> = {};
    for (let i = 0; i < 20_000; i++) headers[`h-${i}`] = "v".repeat(20);
    headers.authorization = "Bearer wf_acme_abc";
    const many = bytes({ attributes: { request: { http: { headers } } } });
    const t0 = performance.now();
    expectSameInput(many);
    expect(performance.now() - t0).toBeLessThan(5_000); // generous: a shared machine
    const claims: Record<string, string> = {};
    for (let i = 0; i < 5_000; i++) claims[`x-warpflow-h${i}`] = "1";
    const forged = bytes({ attributes: { request: { http: { headers: claims } } } });
    // Too many to clean from the request: flagged for a denial (ext-authz-handlers.ts), on both decoders.
    for (const input of [checkInputOf(decode(forged) as never), checkInputOf(fromBinary(CheckRequestSchema, forged))]) {
      expect(input.tooManyClaimHeaders).toBe(true);
      expect(input.clientClaimHeaders).toHaveLength(100);
    }
  });
});
