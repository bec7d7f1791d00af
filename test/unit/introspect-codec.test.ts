import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Introspection } from "../../src/domain/introspection.js";
import {
  InactiveReason,
  IntrospectRequestSchema,
  IntrospectResponseSchema,
  TokenType,
  type IntrospectResponse,
} from "../../src/gen/warpflow/auth/v1/token_service_pb.js";
import { fastCodecs, type FastCodec } from "../../src/transport/grpc/introspect-codec.js";
import { toIntrospectResponse } from "../../src/service/proto-mapping.js";

/** The hand-written Introspect codec must be indistinguishable from protobuf-es. */
const request = fastCodecs.get(IntrospectRequestSchema.typeName) as FastCodec<unknown>;
const response = fastCodecs.get(IntrospectResponseSchema.typeName) as FastCodec<IntrospectResponse>;
const decode = (b: Buffer) => request.decode!(b) ?? fromBinary(IntrospectRequestSchema, b);
const encode = (m: IntrospectResponse) => response.encode!(m) ?? Buffer.from(toBinary(IntrospectResponseSchema, m));

const text = fc.oneof(fc.string(), fc.string({ unit: "grapheme" }), fc.string({ unit: "binary" }), fc.constant(""));
const responseArb = fc.record({
  active: fc.boolean(),
  tokenType: fc.constantFrom(0, 1, 2, 3, 200) as fc.Arbitrary<TokenType>,
  tenantId: text,
  keyId: text,
  sessionId: text,
  expiresAt: fc.option(fc.date({ min: new Date(0), max: new Date("2200-01-01T00:00:00Z"), noInvalidDate: true }), {
    nil: undefined,
  }),
  deprecated: fc.boolean(),
  admin: fc.boolean(),
  inactiveReason: fc.constantFrom(0, 1, 2, 5, 8, 9, 10, 300) as fc.Arbitrary<InactiveReason>,
  subject: text,
  groups: fc.array(text, { maxLength: 4 }),
  email: text,
  username: text,
  scopes: fc.array(text, { maxLength: 4 }),
});

const REASON_OF: Partial<Record<string, InactiveReason>> = {
  revoked: InactiveReason.REVOKED,
  insufficient_scope: InactiveReason.INSUFFICIENT_SCOPE,
  address_not_allowed: InactiveReason.ADDRESS_NOT_ALLOWED,
};

describe("Introspect codec", () => {
  it("is enabled for both messages (the schema matches its field list)", () => {
    expect(request?.decode).toBeTypeOf("function");
    expect(response?.encode).toBeTypeOf("function");
  });

  it("encodes every IntrospectResponse to the bytes protobuf-es writes", () => {
    fc.assert(
      fc.property(responseArb, (r) => {
        const m = create(IntrospectResponseSchema, { ...r, expiresAt: r.expiresAt && timestampFromDate(r.expiresAt) });
        expect(encode(m).equals(Buffer.from(toBinary(IntrospectResponseSchema, m)))).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it("leaves messages with unknown fields to protobuf-es", () => {
    const withUnknown = fromBinary(IntrospectResponseSchema, Buffer.from([0x08, 0x01, 0xa0, 0x06, 0x07]));
    expect(response.encode!(withUnknown)).toBeUndefined();
    expect(encode(withUnknown).equals(Buffer.from(toBinary(IntrospectResponseSchema, withUnknown)))).toBe(true);
  });

  it("decodes every IntrospectRequest as protobuf-es does", () => {
    fc.assert(
      fc.property(
        text,
        text,
        fc.array(text, { maxLength: 4 }),
        text,
        (token, expectedTenantId, requiredScopes, clientAddress) => {
          const bytes = Buffer.from(
            toBinary(
              IntrospectRequestSchema,
              create(IntrospectRequestSchema, { token, expectedTenantId, requiredScopes, clientAddress }),
            ),
          );
          expect(decode(bytes)).toEqual(fromBinary(IntrospectRequestSchema, bytes));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("decodes arbitrary bytes exactly as protobuf-es does, including its errors", () => {
    const outcome = (f: () => unknown) => {
      try {
        return { ok: f() };
      } catch (err) {
        return { error: String(err) };
      }
    };
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (raw) => {
        const b = Buffer.from(raw);
        expect(outcome(() => decode(b))).toEqual(outcome(() => fromBinary(IntrospectRequestSchema, b)));
      }),
      { numRuns: 5000 },
    );
    // Repeated and unknown fields, empty input.
    // Field 5 is unknown (3 and 4 are required_scopes and client_address, issue 22).
    for (const raw of [
      [],
      [0x0a, 0x01, 0x61, 0x0a, 0x01, 0x62],
      [0x0a, 0x00, 0x28, 0x01],
      [0x12, 0x02, 0x61, 0x62],
      [0x1a, 0x01, 0x61, 0x22, 0x01, 0x62, 0x1a, 0x00, 0x22, 0x01, 0x63],
    ]) {
      const b = Buffer.from(raw);
      expect(decode(b)).toEqual(fromBinary(IntrospectRequestSchema, b));
    }
  });

  it("maps introspections to the same message create() builds", () => {
    const results: Introspection[] = [
      { active: false, reason: "revoked" },
      {
        active: true,
        tokenType: "api_key",
        tenantId: "acme",
        keyId: "key_x",
        deprecated: true,
        admin: false,
        expiresAt: new Date(1_800_000_000_123),
      },
      {
        active: true,
        tokenType: "session",
        tenantId: "acme",
        sessionId: "ses_x",
        deprecated: false,
        admin: false,
        expiresAt: new Date(1_800_000_000_000),
      },
      {
        active: true,
        tokenType: "cognito",
        tenantId: "acme",
        deprecated: false,
        admin: false,
        subject: "s",
        groups: ["a", "b"],
        email: "e@x",
        username: "u",
        scopes: ["openid", "https://api.example.com/read"],
      },
      // Issue 22: scopes answered, the allowlist never; the two new reasons.
      {
        active: true,
        tokenType: "api_key",
        tenantId: "acme",
        keyId: "key_y",
        deprecated: false,
        admin: false,
        scopes: ["contacts:read"],
        allowedCidrs: ["10.0.0.0/8"],
      },
      { active: false, reason: "insufficient_scope" },
      { active: false, reason: "address_not_allowed" },
    ];
    for (const r of results) {
      const expected = r.active
        ? create(IntrospectResponseSchema, {
            active: true,
            tokenType: { api_key: TokenType.API_KEY, session: TokenType.SESSION, cognito: TokenType.COGNITO }[
              r.tokenType
            ],
            tenantId: r.tenantId,
            keyId: r.keyId ?? "",
            sessionId: r.sessionId ?? "",
            expiresAt: r.expiresAt && timestampFromDate(r.expiresAt),
            deprecated: r.deprecated,
            admin: r.admin,
            subject: r.subject ?? "",
            groups: r.groups ?? [],
            email: r.email ?? "",
            username: r.username ?? "",
            scopes: r.scopes ? [...r.scopes] : [],
          })
        : create(IntrospectResponseSchema, { active: false, inactiveReason: REASON_OF[r.reason] });
      const got = toIntrospectResponse(r);
      expect(got).toStrictEqual(expected);
      expect(Object.getPrototypeOf(got)).toBe(Object.getPrototypeOf(expected));
    }
  });
});
