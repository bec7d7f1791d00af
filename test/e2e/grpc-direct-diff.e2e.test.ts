import { create, toBinary } from "@bufbuild/protobuf";
import { gzipSync, deflateSync } from "node:zlib";
import type * as http2 from "node:http2";
import { describe, expect, it } from "vitest";
import { CheckRequestSchema } from "../../src/gen/envoy/service/auth/v3/external_auth_pb.js";
import { IntrospectRequestSchema } from "../../src/gen/warpflow/auth/v1/token_service_pb.js";
import { h2Request, type H2Answer } from "../support/h2-request.js";
import { useTestApp, type TestApp } from "../support/test-app.js";

/**
 * The directly served methods (Introspect and Check on the HTTP/2 stream, src/transport/grpc/direct/)
 * against @grpc/grpc-js serving the same methods (the same service with the test-only
 * `grpcDirect: false`): the same crafted raw HTTP/2 requests to both, and the same :status,
 * content-type, grpc-status, grpc-message, response header names and body bytes back.
 */
const direct = useTestApp();
const reference = useTestApp({ grpcDirect: false });

const MAX = 65_536; // MAX_BODY_BYTES's default
const INTROSPECT = "/warpflow.auth.v1.TokenService/Introspect";
const CHECK = "/envoy.service.auth.v3.Authorization/Check";

const frame = (bytes: Uint8Array, flag = 0, declared = bytes.length) => {
  const out = Buffer.alloc(5 + bytes.length);
  out[0] = flag;
  out.writeUInt32BE(declared, 1);
  Buffer.from(bytes).copy(out, 5);
  return out;
};
const introspectBytes = (token: string) =>
  toBinary(IntrospectRequestSchema, create(IntrospectRequestSchema, { token }));
const checkBytes = (token: string) =>
  toBinary(
    CheckRequestSchema,
    create(CheckRequestSchema, {
      attributes: { request: { http: { headers: { authorization: `Bearer ${token}` }, path: "/x", method: "GET" } } },
    }),
  );
const GRPC = { "content-type": "application/grpc", te: "trailers" };

interface Case {
  name: string;
  path?: string;
  headers?: http2.OutgoingHttpHeaders;
  /** DATA to send: chunks written one by one (a number: wait that many ms), then END_STREAM unless `open`. */
  body: (token: string) => (Buffer | number)[];
  open?: boolean;
}

const keys = new Map<TestApp, { token: string; keyId: string }>();
async function keyOf(t: TestApp): Promise<{ token: string; keyId: string }> {
  let key = keys.get(t);
  if (!key) {
    const created = await t.grpc.createKey({ tenantId: "acme", label: "diff" }, { bearer: t.adminKey });
    key = { token: created.token, keyId: created.key!.id };
    keys.set(t, key);
  }
  return key;
}

async function send(t: TestApp, c: Case): Promise<H2Answer & { keyId: string }> {
  const { token, keyId } = await keyOf(t);
  const req = h2Request(t.port, { ":path": c.path ?? INTROSPECT, ...GRPC, ...c.headers });
  for (const part of c.body(token)) {
    if (typeof part === "number") await new Promise((r) => setTimeout(r, part));
    else if (!req.stream.destroyed) req.stream.write(part);
  }
  if (!c.open && !req.stream.destroyed) req.stream.end();
  const timer = setTimeout(() => req.stream.close(), 5000);
  const answer = await req.done;
  clearTimeout(timer);
  return { ...answer, keyId };
}

/** The answer's parts to compare; the app's own key id (same length in both) blanked in the body. */
function comparable(a: H2Answer & { keyId: string }) {
  const grpcMessage = a.trailers["grpc-message"] ?? a.headers["grpc-message"];
  const body = a.body.toString("hex").replaceAll(Buffer.from(a.keyId).toString("hex"), "<key id>");
  const names = (h: http2.IncomingHttpHeaders) =>
    Object.keys(h)
      .filter((k) => k !== "date")
      .sort();
  return {
    status: a.status,
    contentType: a.headers["content-type"],
    grpcStatus: a.grpcStatus,
    grpcMessage,
    headerNames: names(a.headers),
    trailerNames: names(a.trailers),
    body,
    reset: a.rstCode === undefined || a.rstCode === 0 ? "none or NO_ERROR" : a.rstCode,
  };
}

const one = (token: string) => [frame(introspectBytes(token))];
const cases: Case[] = [
  { name: "good call, first (cache miss: the handler)", body: one },
  { name: "good call, again (cache hit: the fast path)", body: one },
  { name: "unknown well-formed token", body: () => [frame(introspectBytes(`wf_acme_${"A".repeat(38)}`))] },
  { name: "te absent", headers: { te: undefined }, body: one },
  { name: "content-type application/grpc+json", headers: { "content-type": "application/grpc+json" }, body: one },
  { name: "content-type application/grpc;charset", headers: { "content-type": "application/grpc;x=y" }, body: one },
  { name: "grpc-timeout 5S", headers: { "grpc-timeout": "5S" }, body: one },
  { name: "grpc-timeout '5 S'", headers: { "grpc-timeout": "5 S" }, body: one },
  { name: "grpc-timeout 1.5S (grpc-js reads 5S)", headers: { "grpc-timeout": "1.5S" }, body: one },
  { name: "grpc-timeout 9 digits", headers: { "grpc-timeout": "123456789S" }, body: one },
  { name: "grpc-timeout abc", headers: { "grpc-timeout": "abc" }, body: one },
  { name: "grpc-timeout 10x", headers: { "grpc-timeout": "10x" }, body: one },
  { name: "grpc-timeout empty", headers: { "grpc-timeout": "" }, body: one },
  { name: "grpc-timeout -1S", headers: { "grpc-timeout": "-1S" }, body: one },
  { name: "deadline passes before the body", headers: { "grpc-timeout": "50m" }, body: (t) => [300, ...one(t)] },
  { name: "deadline passes, no body at all", headers: { "grpc-timeout": "80m" }, body: () => [], open: true },
  {
    name: "gzip-compressed request",
    headers: { "grpc-encoding": "gzip" },
    body: (t) => [frame(gzipSync(introspectBytes(t)), 1)],
  },
  {
    name: "deflate-compressed request",
    headers: { "grpc-encoding": "deflate" },
    body: (t) => [frame(deflateSync(introspectBytes(t)), 1)],
  },
  { name: "gzip declared, message not flagged", headers: { "grpc-encoding": "gzip" }, body: one },
  {
    name: "unknown grpc-encoding, flagged",
    headers: { "grpc-encoding": "br" },
    body: (t) => [frame(introspectBytes(t), 1)],
  },
  { name: "unknown grpc-encoding, not flagged", headers: { "grpc-encoding": "br" }, body: one },
  { name: "compressed flag without grpc-encoding", body: (t) => [frame(introspectBytes(t), 1)] },
  { name: "flag byte 2", body: (t) => [frame(introspectBytes(t), 2)] },
  { name: "gzip flagged, not gzip", headers: { "grpc-encoding": "gzip" }, body: (t) => [frame(introspectBytes(t), 1)] },
  {
    name: "zip bomb (10 MB of zeros, gzip)",
    headers: { "grpc-encoding": "gzip" },
    body: () => [frame(gzipSync(Buffer.alloc(10 << 20)), 1)],
  },
  {
    name: "gzip exactly at the maximum",
    headers: { "grpc-encoding": "gzip" },
    body: () => [frame(gzipSync(Buffer.alloc(MAX)), 1)],
  },
  { name: "oversized message", body: () => [frame(Buffer.alloc(MAX + 1))] },
  { name: "oversized length, body never sent", body: () => [frame(Buffer.alloc(0), 0, MAX + 1)], open: true },
  { name: "message at the maximum (garbage)", body: () => [frame(Buffer.alloc(MAX, 0xff))] },
  { name: "truncated frame then END_STREAM", body: (t) => [frame(introspectBytes(t)).subarray(0, 12)] },
  { name: "truncated prefix then END_STREAM", body: () => [Buffer.from([0, 0, 0])] },
  {
    name: "one message, then a truncated one",
    body: (t) => [frame(introspectBytes(t)), Buffer.from([0, 0, 0, 0, 9, 1])],
  },
  { name: "zero messages", body: () => [] },
  { name: "two messages in one chunk", body: (t) => [Buffer.concat([...one(t), ...one(t)])] },
  { name: "two messages, apart", body: (t) => [...one(t), 50, ...one(t)] },
  { name: "a message byte by byte", body: (t) => [...frame(introspectBytes(t))].map((b) => Buffer.from([b])) },
  { name: "empty message", body: () => [frame(Buffer.alloc(0))] },
  { name: "garbage body", body: () => [frame(Buffer.from("\xff\xff\xff\xff garbage", "latin1"))] },
  { name: "not framed at all", body: () => [Buffer.from("GET / HTTP/1.1\r\n\r\n")] },
  { name: "Check, good call", path: CHECK, body: (t) => [frame(checkBytes(t))] },
  { name: "Check, again (fast path)", path: CHECK, body: (t) => [frame(checkBytes(t))] },
  {
    name: "Check, gzip",
    path: CHECK,
    headers: { "grpc-encoding": "gzip" },
    body: (t) => [frame(gzipSync(checkBytes(t)), 1)],
  },
  { name: "Check, garbage", path: CHECK, body: () => [frame(Buffer.from([0x0a, 0xff, 0xff]))] },
  { name: "Check, two messages", path: CHECK, body: (t) => [frame(checkBytes(t)), frame(checkBytes(t))] },
  { name: "Check, zero messages", path: CHECK, body: () => [] },
];

describe("Introspect and Check served directly answer as grpc-js does", () => {
  it.each(cases)("$name", async (c) => {
    const want = comparable(await send(reference, c));
    const got = comparable(await send(direct, c));
    expect(got).toEqual(want);
    expect(want.status).toBe(200); // every case is a gRPC answer, never an HTTP error
  });

  it("the differential is not vacuous: the reference really is grpc-js (its own header-less 415 for a non-gRPC POST is not at stake, its texts are)", async () => {
    const a = await send(reference, { name: "zero", body: () => [] });
    expect(a.headers["grpc-message"]).toBe(
      "Received%20no%20request%20message%20for%20server%20streaming%20method%20/warpflow.auth.v1.TokenService/Introspect",
    );
  });
});
