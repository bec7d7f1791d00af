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

/** Field number -> its wire type, for one message of the subset: a known field must arrive so. */
type Wires = readonly (number | undefined)[];
const wires = (spec: Record<number, number>): Wires => {
  const w: (number | undefined)[] = [];
  for (const [f, t] of Object.entries(spec)) w[Number(f)] = t;
  return w;
};
const W_ROOT = wires({ 1: LEN });
const W_ATTRIBUTES = wires({ 1: LEN, 2: LEN, 4: LEN, 10: LEN, 12: LEN });
const W_PEER = wires({ 1: LEN, 2: LEN, 3: LEN, 4: LEN, 5: LEN });
const W_REQUEST = wires({ 1: LEN, 2: LEN });
const W_HTTP = wires({
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
});
const W_ADDRESS = wires({ 1: LEN, 2: LEN });
const W_SOCKET = wires({ 1: VARINT, 2: LEN, 3: VARINT, 4: LEN, 5: LEN, 6: VARINT });
const W_PAIR = wires({ 1: LEN, 2: LEN }); // map entries; HeaderMap (only 1 is its field)
const W_HEADER_VALUE = wires({ 1: LEN, 2: LEN, 3: LEN });

// The walk's state: one decode at a time (synchronous, single-threaded), so module-level
// variables instead of a reader object and closures per nested message.
let b: Buffer = Buffer.alloc(0);
let pos = 0;
/** The bytes of the last field next() returned: [fStart, fEnd). */
let fStart = 0;
let fEnd = 0;

function varint(end: number): number {
  let v = 0;
  let mul = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= end) throw GIVE_UP;
    const byte = b[pos++]!;
    v += (byte & 0x7f) * mul;
    if (byte < 0x80) return v;
    mul *= 128;
  }
  throw GIVE_UP;
}

/**
 * Reads up to the next known length-delimited field of the message ending at `end` whose known
 * fields are `w`: returns its number (its bytes in fStart/fEnd), or 0 at the end. Every other field
 * is skipped. A known field with another wire type: give up.
 */
function next(end: number, w: Wires): number {
  // The previous field returned was not descended into: step over it.
  if (pos < fEnd) pos = fEnd;
  for (;;) {
    if (pos >= end) return 0;
    const tag = varint(end);
    const number = Math.floor(tag / 8);
    const wire = tag & 7;
    if (number === 0) throw GIVE_UP;
    const expected = w[number];
    if (expected !== undefined && wire !== expected) throw GIVE_UP;
    if (wire === LEN) {
      const n = varint(end);
      if (n > end - pos) throw GIVE_UP;
      if (expected !== undefined) {
        fStart = pos;
        fEnd = pos + n; // pos stays at the field's first byte: the caller may descend into it
        return number;
      }
      pos += n;
    } else if (wire === VARINT) varint(end);
    else if (wire === I64 || wire === I32) {
      pos += wire === I64 ? 8 : 4;
      if (pos > end) throw GIVE_UP;
    } else throw GIVE_UP; // groups and invalid wire types: protobuf-es decides
  }
}

/** Descend into the field next() returned: its end (the caller reads up to it). */
function enter(): number {
  const end = fEnd;
  fEnd = pos;
  return end;
}

/** An ASCII string (valid UTF-8 as is), or give up. */
function ascii(start: number, end: number): string {
  for (let i = start; i < end; i++) if (b[i]! > 0x7f) throw GIVE_UP;
  return (b as unknown as { latin1Slice(start: number, end: number): string }).latin1Slice(start, end);
}

const AUTHORIZATION = Buffer.from("authorization");
const CLAIM_PREFIX = Buffer.from("x-warpflow-");
/** Do these bytes spell `lower` in any ASCII case, from `start`, for `lower.length` bytes? */
function spells(start: number, lower: Buffer): boolean {
  for (let i = 0; i < lower.length; i++) if ((b[start + i]! | 0x20) !== lower[i]!) return false;
  return true;
}
/** Does a header name matter to Check (check-input.ts reads only these), without decoding it? */
function kept(start: number, end: number): boolean {
  const n = end - start;
  return (n === 13 && spells(start, AUTHORIZATION)) || (n >= 11 && spells(start, CLAIM_PREFIX));
}

interface Out {
  headers: Record<string, string>;
  raw: { $typeName: string; key: string; value: string; rawValue: Uint8Array }[] | undefined;
  extensions: Record<string, string>;
  address: { case: "socketAddress"; value: { address: string } } | { case: undefined } | undefined;
  attributes: boolean;
  source: boolean;
  request: boolean;
  http: boolean;
}

/** A map entry (key 1, value 2) ending at `end`: [key start, key end, value start, value end]. */
const entry = [0, 0, 0, 0];
function readEntry(end: number): void {
  entry[0] = entry[1] = entry[2] = entry[3] = 0;
  let field: number;
  while ((field = next(end, W_PAIR)) !== 0) {
    const i = field === 1 ? 0 : 2;
    entry[i] = fStart;
    entry[i + 1] = fEnd;
  }
}

function readHttp(end: number, out: Out): void {
  out.http = true;
  let field: number;
  while ((field = next(end, W_HTTP)) !== 0) {
    const e = enter();
    if (field === 3) {
      readEntry(e);
      if (kept(entry[0]!, entry[1]!)) out.headers[ascii(entry[0]!, entry[1]!)] = ascii(entry[2]!, entry[3]!);
    } else if (field === 13) {
      out.raw ??= [];
      let item: number;
      while ((item = next(e, W_PAIR)) !== 0) {
        if (item !== 1) continue;
        const he = enter();
        let k0 = 0,
          k1 = 0,
          v0 = 0,
          v1 = 0,
          r0 = 0,
          r1 = 0;
        let part: number;
        while ((part = next(he, W_HEADER_VALUE)) !== 0) {
          if (part === 1) {
            k0 = fStart;
            k1 = fEnd;
          } else if (part === 2) {
            v0 = fStart;
            v1 = fEnd;
          } else {
            r0 = fStart;
            r1 = fEnd;
          }
        }
        if (!kept(k0, k1)) continue;
        out.raw.push({
          $typeName: HeaderValueSchema.typeName,
          key: ascii(k0, k1),
          value: ascii(v0, v1),
          rawValue: Uint8Array.prototype.slice.call(b, r0, r1),
        });
      }
    }
    pos = e;
  }
}

function readAttributes(end: number, out: Out): void {
  out.attributes = true;
  let field: number;
  while ((field = next(end, W_ATTRIBUTES)) !== 0) {
    const e = enter();
    if (field === 1) {
      out.source = true;
      let p: number;
      while ((p = next(e, W_PEER)) !== 0) {
        if (p !== 1) continue;
        const ae = enter();
        let a: number;
        while ((a = next(ae, W_ADDRESS)) !== 0) {
          if (a === 2) {
            out.address = { case: undefined }; // a pipe replaces the socket address (oneof)
            continue;
          }
          const se = enter();
          let host = "";
          let sf: number;
          while ((sf = next(se, W_SOCKET)) !== 0) if (sf === 2) host = ascii(fStart, fEnd);
          out.address = { case: "socketAddress", value: { address: host } };
        }
      }
    } else if (field === 4) {
      out.request = true;
      let r: number;
      while ((r = next(e, W_REQUEST)) !== 0) if (r === 2) readHttp(enter(), out);
    } else if (field === 10) {
      readEntry(e);
      out.extensions[ascii(entry[0]!, entry[1]!)] = ascii(entry[2]!, entry[3]!);
    }
    pos = e; // destination (2) and tls_session (12): not read
  }
}

function decodeCheckRequest(bytes: Buffer): CheckRequest | undefined {
  const out: Out = {
    headers: {},
    raw: undefined,
    extensions: {},
    address: undefined,
    attributes: false,
    source: false,
    request: false,
    http: false,
  };
  b = bytes;
  pos = fStart = fEnd = 0;
  try {
    while (next(bytes.length, W_ROOT) !== 0) readAttributes(enter(), out);
  } catch (err) {
    if (err === GIVE_UP) return undefined;
    throw err;
  } finally {
    b = EMPTY; // keep no reference to the request
  }
  if (!out.attributes) return { $typeName: CheckRequestSchema.typeName } as CheckRequest;
  const http = out.http
    ? {
        $typeName: AttributeContext_HttpRequestSchema.typeName,
        headers: out.headers,
        headerMap: out.raw && { $typeName: HeaderMapSchema.typeName, headers: out.raw },
      }
    : undefined;
  return {
    $typeName: CheckRequestSchema.typeName,
    attributes: {
      $typeName: AttributeContextSchema.typeName,
      source: out.source
        ? {
            $typeName: AttributeContext_PeerSchema.typeName,
            address: out.address && { $typeName: AddressSchema.typeName, address: out.address },
          }
        : undefined,
      request: out.request ? { $typeName: AttributeContext_RequestSchema.typeName, http } : undefined,
      contextExtensions: out.extensions,
    },
  } as unknown as CheckRequest;
}
const EMPTY = Buffer.alloc(0);

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
