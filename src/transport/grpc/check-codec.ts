// Hand-written decoder for Envoy's CheckRequest (the hot Check method), used by the grpc-js server
// in place of protobuf-es's reflective fromBinary: Envoy sends every request header, peer
// addresses and a timestamp, and Check reads a few of them (service/check-input.ts). This decoder
// walks the wire format once and keeps only those: the `authorization` and `x-warpflow-*` entries
// of `headers` and `header_map`, the context extensions and the source socket address. The message
// it returns is that projection of the request (every other field absent), so Check decides
// exactly as on protobuf-es's full message (proven by test/unit/check-codec.test.ts).
// Anything unusual goes back to protobuf-es: a known field with another wire type, a kept string
// that is not ASCII, a key that is not ASCII, a truncated or malformed message. If the generated
// schema stops matching the field numbers below, the decoder is disabled at load (`matches`).
import type { DescMessage } from "@bufbuild/protobuf";
import {
  AttributeContext_HttpRequestSchema,
  AttributeContext_PeerSchema,
  AttributeContext_RequestSchema,
  AttributeContextSchema,
} from "../../gen/envoy/service/auth/v3/attribute_context_pb.js";
import { AddressSchema, SocketAddressSchema } from "../../gen/envoy/config/core/v3/address_pb.js";
import { HeaderMapSchema, HeaderValueSchema } from "../../gen/envoy/config/core/v3/base_pb.js";
import { CheckRequestSchema, type CheckRequest } from "../../gen/envoy/service/auth/v3/external_auth_pb.js";
import type { FastCodec } from "./introspect-codec.js";

const VARINT = 0;
const I64 = 1;
const LEN = 2;
const I32 = 5;

/** Thrown inside the walk: the caller hands the bytes to protobuf-es. */
const GIVE_UP = new Error("not for the fast decoder"); // made once: throwing it costs no stack trace

class Reader {
  pos: number;
  constructor(
    readonly b: Buffer,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }
  varint(): number {
    let v = 0;
    let shift = 0;
    for (;;) {
      if (this.pos >= this.end || shift > 63) throw GIVE_UP; // at most 10 bytes (a negative int64)
      const byte = this.b[this.pos++]!;
      v += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return v;
      shift += 7;
    }
  }
  /** [start, end) of a length-delimited field's bytes. */
  len(): number {
    const n = this.varint();
    const start = this.pos;
    if (n > this.end - start) throw GIVE_UP;
    this.pos = start + n;
    return start;
  }
  skip(wire: number): void {
    if (wire === VARINT) this.varint();
    else if (wire === LEN) this.len();
    else if (wire === I64 || wire === I32) {
      this.pos += wire === I64 ? 8 : 4;
      if (this.pos > this.end) throw GIVE_UP;
    } else throw GIVE_UP; // groups and invalid wire types: protobuf-es decides
  }
}

/** Field number -> its wire type, for one message of the subset: a known field must arrive so. */
type Wires = Readonly<Record<number, number>>;
const W_ATTRIBUTES: Wires = { 1: LEN, 2: LEN, 4: LEN, 10: LEN, 12: LEN };
const W_PEER: Wires = { 1: LEN, 2: LEN, 3: LEN, 4: LEN, 5: LEN };
const W_REQUEST: Wires = { 1: LEN, 2: LEN };
const W_HTTP: Wires = {
  1: LEN,
  2: LEN,
  3: LEN,
  4: LEN,
  5: LEN,
  6: LEN,
  7: LEN,
  8: LEN,
  9: VARINT,
  10: LEN,
  11: LEN,
  12: LEN,
  13: LEN,
};
const W_ADDRESS: Wires = { 1: LEN, 2: LEN };
const W_SOCKET: Wires = { 1: VARINT, 2: LEN, 3: VARINT, 4: LEN, 5: LEN, 6: VARINT };
const W_PAIR: Wires = { 1: LEN, 2: LEN }; // map entries, HeaderMap (1), HeaderValue (1, 2; 3 below)
const W_HEADER_VALUE: Wires = { 1: LEN, 2: LEN, 3: LEN };

/** Reads the fields of one message; `on` gets the known ones (wire type checked), the rest are skipped. */
function fields(r: Reader, wires: Wires, on: (field: number, start: number, end: number) => void): void {
  while (r.pos < r.end) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field === 0) throw GIVE_UP;
    const expected = wires[field];
    if (expected === undefined) {
      r.skip(wire);
      continue;
    }
    if (wire !== expected) throw GIVE_UP;
    if (wire === LEN) {
      const start = r.len();
      on(field, start, r.pos);
    } else {
      r.skip(wire);
    }
  }
}

/** An ASCII string (valid UTF-8 as is), or give up. */
function ascii(b: Buffer, start: number, end: number): string {
  for (let i = start; i < end; i++) if (b[i]! > 0x7f) throw GIVE_UP;
  return b.toString("latin1", start, end);
}

/** Does a header name (ASCII) matter to Check? Same test as check-input.ts, on the lower-cased name. */
const kept = (name: string): boolean => {
  const lower = name.toLowerCase();
  return lower === "authorization" || lower.startsWith("x-warpflow-");
};

function decodeCheckRequest(b: Buffer): CheckRequest | undefined {
  const headers: Record<string, string> = {};
  const raw: { $typeName: string; key: string; value: string; rawValue: Uint8Array }[] = [];
  const extensions: Record<string, string> = {};
  let sawHeaderMap = false;
  let address: { case: "socketAddress"; value: { address: string } } | { case: undefined } | undefined;
  let sawAttributes = false;
  let sawRequest = false;
  let sawHttp = false;
  let sawSource = false;

  const pair = (start: number, end: number, into: (key: string, value: [number, number]) => void) => {
    let key = "";
    let value: [number, number] = [0, 0];
    fields(new Reader(b, start, end), W_PAIR, (f, s, e) => {
      if (f === 1) key = ascii(b, s, e);
      else value = [s, e];
    });
    into(key, value);
  };
  const http = (start: number, end: number) => {
    sawHttp = true;
    fields(new Reader(b, start, end), W_HTTP, (f, s, e) => {
      if (f === 3) {
        pair(s, e, (key, [vs, ve]) => {
          if (kept(key)) headers[key] = ascii(b, vs, ve);
        });
      } else if (f === 13) {
        sawHeaderMap = true;
        fields(new Reader(b, s, e), W_PAIR, (hf, hs, he) => {
          if (hf !== 1) return; // HeaderMap has one field; W_PAIR's 2 is never sent by Envoy
          let key = "";
          let value: [number, number] = [0, 0];
          let rawValue: [number, number] = [0, 0];
          fields(new Reader(b, hs, he), W_HEADER_VALUE, (vf, vs, ve) => {
            if (vf === 1) key = ascii(b, vs, ve);
            else if (vf === 2) value = [vs, ve];
            else rawValue = [vs, ve];
          });
          if (!kept(key)) return;
          raw.push({
            $typeName: HeaderValueSchema.typeName,
            key,
            value: ascii(b, value[0], value[1]),
            rawValue: Uint8Array.from(b.subarray(rawValue[0], rawValue[1])),
          });
        });
      }
    });
  };

  try {
    fields(new Reader(b, 0, b.length), { 1: LEN }, (_f, s, e) => {
      sawAttributes = true;
      fields(new Reader(b, s, e), W_ATTRIBUTES, (f, as, ae) => {
        if (f === 1) {
          sawSource = true;
          fields(new Reader(b, as, ae), W_PEER, (pf, ps, pe) => {
            if (pf !== 1) return;
            fields(new Reader(b, ps, pe), W_ADDRESS, (af, ss, se) => {
              if (af === 2) {
                address = { case: undefined }; // a pipe replaces the socket address (oneof)
                return;
              }
              let host = "";
              fields(new Reader(b, ss, se), W_SOCKET, (sf, hs, he) => {
                if (sf === 2) host = ascii(b, hs, he);
              });
              address = { case: "socketAddress", value: { address: host } };
            });
          });
        } else if (f === 2 || f === 12) {
          // destination, tls_session: not read
        } else if (f === 4) {
          sawRequest = true;
          fields(new Reader(b, as, ae), W_REQUEST, (rf, rs, re) => {
            if (rf === 2) http(rs, re);
          });
        } else {
          pair(as, ae, (key, [vs, ve]) => {
            extensions[key] = ascii(b, vs, ve);
          });
        }
      });
    });
  } catch (err) {
    if (err === GIVE_UP) return undefined;
    throw err;
  }
  if (!sawAttributes) return { $typeName: CheckRequestSchema.typeName } as CheckRequest;
  const httpRequest = sawHttp
    ? {
        $typeName: AttributeContext_HttpRequestSchema.typeName,
        headers,
        headerMap: sawHeaderMap ? { $typeName: HeaderMapSchema.typeName, headers: raw } : undefined,
      }
    : undefined;
  return {
    $typeName: CheckRequestSchema.typeName,
    attributes: {
      $typeName: AttributeContextSchema.typeName,
      source: sawSource
        ? {
            $typeName: AttributeContext_PeerSchema.typeName,
            address: address && { $typeName: AddressSchema.typeName, address },
          }
        : undefined,
      request: sawRequest ? { $typeName: AttributeContext_RequestSchema.typeName, http: httpRequest } : undefined,
      contextExtensions: extensions,
    },
  } as unknown as CheckRequest;
}

/** Does the generated schema still number these fields as this decoder reads them? */
function matches(): boolean {
  const at = (m: DescMessage, n: number, name: string) => m.fields.find((f) => f.number === n)?.name === name;
  return (
    at(CheckRequestSchema, 1, "attributes") &&
    at(AttributeContextSchema, 1, "source") &&
    at(AttributeContextSchema, 4, "request") &&
    at(AttributeContextSchema, 10, "context_extensions") &&
    at(AttributeContext_PeerSchema, 1, "address") &&
    at(AddressSchema, 1, "socket_address") &&
    at(AddressSchema, 2, "pipe") &&
    at(SocketAddressSchema, 2, "address") &&
    at(AttributeContext_RequestSchema, 2, "http") &&
    at(AttributeContext_HttpRequestSchema, 3, "headers") &&
    at(AttributeContext_HttpRequestSchema, 13, "header_map") &&
    at(HeaderMapSchema, 1, "headers") &&
    at(HeaderValueSchema, 1, "key") &&
    at(HeaderValueSchema, 2, "value") &&
    at(HeaderValueSchema, 3, "raw_value")
  );
}

/** The fast decoder by message type name (empty when the schema check failed). */
export const checkCodecs: ReadonlyMap<string, FastCodec<never>> = matches()
  ? new Map([[CheckRequestSchema.typeName, { decode: decodeCheckRequest } as FastCodec<never>]])
  : new Map();
