// Hand-written decoder for Envoy's CheckRequest (the hot Check method), used by the grpc-js server
// in place of protobuf-es's reflective fromBinary: Envoy sends every request header, peer
// addresses and a timestamp, and Check reads a few of them (service/check-input.ts). This decoder
// walks the wire format once and keeps only those: the `authorization` and `x-warpflow-*` entries
// of `headers` and `header_map`, the `tenant_id` and `required_scopes` context extensions and the
// source socket address. A header or extension it does not keep costs a length and a byte or two
// of its name: no string, no object. The message it returns is that projection of the request
// (every other field absent), so Check decides exactly as on protobuf-es's full message (proven by
// test/unit/check-codec.test.ts) for every well-formed request. Two differences on malformed bytes,
// both in parts Check never reads: a string field it skips that is not valid UTF-8 (protobuf-es
// refuses the whole message; here the credential is judged: Envoy's legacy `headers` map passes a
// client's obs-text bytes as they came), and a skipped nested part whose length overruns its
// enclosing message (stepped over as the enclosing length says). Anything unusual in what Check
// reads goes back to protobuf-es: a known field with
// another wire type, a kept string that is not ASCII, a truncated or malformed message (a tag
// protobuf-es refuses, longer than 5 bytes or past uint32, anywhere in the message). If the
// generated schema stops matching the field numbers below, the decoder is disabled at load.
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

/**
 * The walk's cursor: one decode at a time (synchronous, single-threaded), so one instance made at
 * load; its fields (not module-level `let`s, each access of which costs a context load and a
 * hole check) are `p` the position, [s, e) the bytes of the last field field() returned, and a map
 * entry's key [k0, k1) and value [v0, v1).
 */
class Cursor {
  b: Buffer = EMPTY;
  p = 0;
  s = 0;
  e = 0;
  k0 = 0;
  k1 = 0;
  v0 = 0;
  v1 = 0;

  varint(end: number): number {
    const b = this.b;
    let p = this.p;
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (p >= end) throw GIVE_UP;
      const byte = b[p++]!;
      v += (byte & 0x7f) * mul;
      if (byte < 0x80) {
        this.p = p;
        return v;
      }
      mul *= 128;
    }
    throw GIVE_UP;
  }

  /**
   * Reads fields of the message ending at `end` whose known fields are `w` up to the next known
   * length-delimited one: returns its number (its bytes in s/e, p after it), or 0 at the end.
   * Every other field is skipped. A known field with another wire type: give up.
   */
  field(end: number, w: Wires): number {
    const b = this.b;
    for (;;) {
      let p = this.p;
      if (p >= end) return 0;
      let tag = b[p]!;
      if (tag < 0x80) p++;
      else {
        tag = this.varint(end);
        // protobuf-es refuses a tag of more than 5 bytes or past uint32 (the whole message): so here.
        if (this.p - p > 5 || tag > 0xffffffff) throw GIVE_UP;
        p = this.p;
      }
      const number = tag < 0x80 ? tag >>> 3 : Math.floor(tag / 8);
      const wire = tag & 7;
      if (number === 0) throw GIVE_UP;
      const expected = number < w.length ? w[number] : undefined;
      if (expected !== undefined && wire !== expected) throw GIVE_UP;
      if (wire === LEN) {
        let n = p < end ? b[p]! : 0x80;
        if (n < 0x80) p++;
        else {
          this.p = p;
          n = this.varint(end);
          p = this.p;
        }
        if (n > end - p) throw GIVE_UP;
        this.p = p + n;
        if (expected !== undefined) {
          this.s = p;
          this.e = p + n;
          return number;
        }
      } else if (wire === VARINT) {
        this.p = p;
        this.varint(end);
      } else if (wire === I64 || wire === I32) {
        p += wire === I64 ? 8 : 4;
        if (p > end) throw GIVE_UP;
        this.p = p;
      } else throw GIVE_UP; // groups and invalid wire types: protobuf-es decides
    }
  }

  /** Enter the field field() returned: p at its first byte; its end returned. */
  enter(): number {
    this.p = this.s;
    return this.e;
  }
}
const EMPTY = Buffer.alloc(0);
const cur = new Cursor();

/** An ASCII string (valid UTF-8 as is), or give up. */
function ascii(start: number, end: number): string {
  const b = cur.b;
  let high = 0;
  for (let i = start; i < end; i++) high |= b[i]!;
  if (high > 0x7f) throw GIVE_UP;
  return (b as unknown as { latin1Slice(start: number, end: number): string }).latin1Slice(start, end);
}

/**
 * The tenant_id extension's value: the same few per gateway route, so the last strings are kept
 * with their bytes and reused (no decode, and the same string object for the tenant comparison).
 */
const TENANTS = 8;
const tenantBytes: Buffer[] = [];
const tenantStrings: string[] = [];
let nextTenant = 0;
function tenantValue(start: number, end: number): string {
  const b = cur.b;
  const n = end - start;
  for (let t = 0; t < tenantBytes.length; t++) {
    const known = tenantBytes[t]!;
    if (known.length !== n) continue;
    let i = 0;
    while (i < n && b[start + i] === known[i]) i++;
    if (i === n) return tenantStrings[t]!;
  }
  const s = ascii(start, end);
  if (n <= 64) {
    tenantBytes[nextTenant] = Buffer.from(s, "latin1");
    tenantStrings[nextTenant] = s;
    nextTenant = (nextTenant + 1) % TENANTS;
  }
  return s;
}

const bytesOf = (s: string) => Buffer.from(s, "latin1");
const AUTHORIZATION = bytesOf("authorization");
const CLAIM_PREFIX = bytesOf("x-warpflow-");
const TENANT_ID = bytesOf("tenant_id");
const REQUIRED_SCOPES = bytesOf("required_scopes");
/** Do the bytes from `start` spell `lower` (lower-case ASCII letters, digits, `-` and `_`) in any ASCII case? */
function spells(start: number, lower: Buffer): boolean {
  const b = cur.b;
  for (let i = 0; i < lower.length; i++) if ((b[start + i]! | 0x20) !== (lower[i]! | 0x20)) return false;
  return true;
}
/** Are the bytes exactly these? */
function equals(start: number, end: number, bytes: Buffer): boolean {
  if (end - start !== bytes.length) return false;
  const b = cur.b;
  for (let i = 0; i < bytes.length; i++) if (b[start + i] !== bytes[i]) return false;
  return true;
}
/**
 * A header name that matters to Check (check-input.ts reads only `authorization` and
 * `x-warpflow-*`, in any ASCII case), or undefined without decoding it. The usual spelling is the
 * constant string (no decode; an internalized property key).
 */
function headerName(start: number, end: number): string | undefined {
  const n = end - start;
  if (n === 13 && spells(start, AUTHORIZATION))
    return equals(start, end, AUTHORIZATION) ? "authorization" : ascii(start, end);
  return n >= 11 && spells(start, CLAIM_PREFIX) ? ascii(start, end) : undefined;
}
/** The context extensions Check reads (exact, case-sensitive keys, as check-input.ts looks them up). */
function extensionKey(start: number, end: number): string | undefined {
  if (equals(start, end, TENANT_ID)) return "tenant_id";
  return equals(start, end, REQUIRED_SCOPES) ? "required_scopes" : undefined;
}

type Address = { case: "socketAddress"; value: { address: string } } | { case: undefined };
interface Http {
  $typeName: string;
  headers: Record<string, string>;
  headerMap:
    | { $typeName: string; headers: { $typeName: string; key: string; value: string; rawValue: Uint8Array }[] }
    | undefined;
}
interface Out {
  attributes: boolean;
  source: boolean;
  address: Address | undefined;
  request: boolean;
  http: Http | undefined;
  extensions: Record<string, string> | undefined;
}

/** A map entry (key 1, value 2) ending at `end`: its key's and value's bytes in cur.k0... */
function readEntry(end: number): void {
  // The usual shape, one short key then one short value and nothing else: read in place.
  const b = cur.b;
  const s = cur.p;
  const kn = b[s + 1]!;
  if (b[s] === 0x0a && kn < 0x80 && s + 2 + kn + 2 <= end && b[s + 2 + kn] === 0x12) {
    const vn = b[s + 3 + kn]!;
    if (vn < 0x80 && s + 4 + kn + vn === end) {
      cur.k0 = s + 2;
      cur.k1 = s + 2 + kn;
      cur.v0 = s + 4 + kn;
      cur.v1 = end;
      cur.p = end;
      return;
    }
  }
  cur.k0 = cur.k1 = cur.v0 = cur.v1 = 0;
  let f: number;
  while ((f = cur.field(end, W_PAIR)) !== 0) {
    if (f === 1) {
      cur.k0 = cur.s;
      cur.k1 = cur.e;
    } else {
      cur.v0 = cur.s;
      cur.v1 = cur.e;
    }
  }
}

function readHeaderMap(end: number, http: Http): void {
  const list = (http.headerMap ??= { $typeName: HeaderMapSchema.typeName, headers: [] }).headers;
  let item: number;
  while ((item = cur.field(end, W_PAIR)) !== 0) {
    if (item !== 1) continue;
    const he = cur.e;
    cur.p = cur.s;
    let key0 = 0,
      key1 = 0,
      val0 = 0,
      val1 = 0,
      raw0 = 0,
      raw1 = 0;
    let part: number;
    while ((part = cur.field(he, W_HEADER_VALUE)) !== 0) {
      if (part === 1) {
        key0 = cur.s;
        key1 = cur.e;
      } else if (part === 2) {
        val0 = cur.s;
        val1 = cur.e;
      } else {
        raw0 = cur.s;
        raw1 = cur.e;
      }
    }
    const key = headerName(key0, key1);
    if (key === undefined) continue;
    list.push({
      $typeName: HeaderValueSchema.typeName,
      key,
      value: ascii(val0, val1),
      rawValue: Uint8Array.prototype.slice.call(cur.b, raw0, raw1),
    });
  }
}

function readHttp(end: number, out: Out): void {
  const http = (out.http ??= {
    $typeName: AttributeContext_HttpRequestSchema.typeName,
    headers: {},
    headerMap: undefined,
  });
  let f: number;
  while ((f = cur.field(end, W_HTTP)) !== 0) {
    const e = cur.e;
    if (f === 3) {
      cur.p = cur.s;
      readEntry(e);
      const name = headerName(cur.k0, cur.k1);
      if (name !== undefined) http.headers[name] = ascii(cur.v0, cur.v1);
    } else if (f === 13) {
      cur.p = cur.s;
      readHeaderMap(e, http);
    }
    cur.p = e;
  }
}

function readPeer(end: number, out: Out): void {
  out.source = true;
  let p: number;
  while ((p = cur.field(end, W_PEER)) !== 0) {
    if (p !== 1) continue;
    const ae = cur.e;
    cur.p = cur.s;
    let a: number;
    while ((a = cur.field(ae, W_ADDRESS)) !== 0) {
      if (a === 2) {
        out.address = { case: undefined }; // a pipe replaces the socket address (oneof)
        continue;
      }
      // A socket address merges into one already there (a protobuf message field), else starts anew.
      const prev = out.address;
      const host = prev?.case === "socketAddress" ? prev.value : { address: "" };
      const se = cur.e;
      cur.p = cur.s;
      let sf: number;
      while ((sf = cur.field(se, W_SOCKET)) !== 0) if (sf === 2) host.address = ascii(cur.s, cur.e);
      out.address = { case: "socketAddress", value: host };
      cur.p = se;
    }
    cur.p = ae;
  }
}

function readAttributes(end: number, out: Out): void {
  out.attributes = true;
  let f: number;
  while ((f = cur.field(end, W_ATTRIBUTES)) !== 0) {
    const e = cur.e;
    if (f === 1) {
      cur.p = cur.s;
      readPeer(e, out);
    } else if (f === 4) {
      out.request = true;
      cur.p = cur.s;
      let r: number;
      while ((r = cur.field(e, W_REQUEST)) !== 0) {
        if (r !== 2) continue;
        const he = cur.e;
        cur.p = cur.s;
        readHttp(he, out);
        cur.p = he;
      }
    } else if (f === 10) {
      cur.p = cur.s;
      readEntry(e);
      const key = extensionKey(cur.k0, cur.k1);
      if (key !== undefined)
        (out.extensions ??= {})[key] = key === "tenant_id" ? tenantValue(cur.v0, cur.v1) : ascii(cur.v0, cur.v1);
    }
    cur.p = e; // destination (2) and tls_session (12): not read
  }
}

function decodeCheckRequest(bytes: Buffer): CheckRequest | undefined {
  const out: Out = {
    attributes: false,
    source: false,
    address: undefined,
    request: false,
    http: undefined,
    extensions: undefined,
  };
  cur.b = bytes;
  cur.p = 0;
  try {
    while (cur.field(bytes.length, W_ROOT) !== 0) {
      const e = cur.e;
      cur.p = cur.s;
      readAttributes(e, out);
      cur.p = e;
    }
  } catch (err) {
    if (err === GIVE_UP) return undefined;
    throw err;
  } finally {
    cur.b = EMPTY; // keep no reference to the request
  }
  if (!out.attributes) return { $typeName: CheckRequestSchema.typeName } as CheckRequest;
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
      request: out.request ? { $typeName: AttributeContext_RequestSchema.typeName, http: out.http } : undefined,
      contextExtensions: out.extensions ?? NO_EXTENSIONS,
    },
  } as unknown as CheckRequest;
}
const NO_EXTENSIONS: Record<string, string> = Object.freeze({}) as Record<string, string>;

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
