import * as http2 from "node:http2";
import { describe, expect, it } from "vitest";
import { lengthPrefixed } from "../support/raw-socket.js";
import { useTestApp } from "../support/test-app.js";
import { counter, metricsText } from "../support/probes.js";
import { h2Exchange } from "../support/h2-request.js";

/**
 * A body that does not decode as the method's protobuf message is the caller's mistake: before the
 * fix it answered INTERNAL (500 / grpc-status 13 "Error deserializing request") and the call was
 * missing from /metrics. Now INVALID_ARGUMENT on every protocol, over both HTTP versions, counted.
 * Bytes: field 1 (token), length-delimited, claims 16 bytes, has 1.
 */
const BAD = Buffer.from([0x0a, 0x10, 0x41]);
const PATH = "/warpflow.auth.v1.TokenService/Introspect";

const t = useTestApp({ logLevel: "warn" });

const h2Post = (headers: Record<string, string>, body: Buffer, path = PATH) =>
  h2Exchange(t.baseUrl, { ":path": path, ...headers }, body);

const invalidArgumentCount = async () => {
  return counter(await metricsText(t.baseUrl), "warpflow_rpc_duration_seconds_count", {
    method: "Introspect",
    code: "invalid_argument",
  });
};

describe("a protobuf body that does not decode is INVALID_ARGUMENT, counted", () => {
  it("on gRPC, gRPC-Web and Connect, over HTTP/1.1 and HTTP/2", async () => {
    const before = await invalidArgumentCount();

    const grpc = await h2Post({ "content-type": "application/grpc", te: "trailers" }, lengthPrefixed(BAD));
    expect(grpc.trailers["grpc-status"] ?? grpc.headers["grpc-status"]).toBe("3");

    const grpcWebH2 = await h2Post({ "content-type": "application/grpc-web+proto" }, lengthPrefixed(BAD));
    expect(grpcWebH2.body.toString("latin1")).toMatch(/grpc-status: ?3/);

    const connectH2 = await h2Post({ "content-type": "application/proto" }, BAD);
    expect(connectH2.status).toBe(400);
    expect(JSON.parse(connectH2.body.toString())).toMatchObject({ code: "invalid_argument" });

    const connectH1 = await fetch(`${t.baseUrl}${PATH}`, {
      method: "POST",
      headers: { "content-type": "application/proto" },
      body: BAD,
    });
    expect(connectH1.status).toBe(400);
    expect(await connectH1.json()).toMatchObject({
      code: "invalid_argument",
      message: expect.stringContaining("not a valid protobuf message"),
    });

    const grpcWebH1 = await fetch(`${t.baseUrl}${PATH}`, {
      method: "POST",
      headers: { "content-type": "application/grpc-web+proto" },
      body: lengthPrefixed(BAD),
    });
    expect(Buffer.from(await grpcWebH1.arrayBuffer()).toString("latin1")).toMatch(/grpc-status: ?3/);

    expect((await invalidArgumentCount()) - before).toBe(5);
  });

  it("a valid binary body is still served on each (the check does not refuse good input)", async () => {
    const good = Buffer.from([0x0a, 0x03, 0x61, 0x62, 0x63]); // token "abc"
    const res = await fetch(`${t.baseUrl}${PATH}`, {
      method: "POST",
      headers: { "content-type": "application/proto" },
      body: good,
    });
    expect(res.status).toBe(200);
    const h2 = await h2Post({ "content-type": "application/grpc-web+proto" }, lengthPrefixed(good));
    expect(h2.status).toBe(200);
    expect(h2.body.toString("latin1")).toMatch(/grpc-status: ?0/);
  });
});

describe("health and reflection (unary, server streaming, bidi): a message that does not decode is INVALID_ARGUMENT", () => {
  // Before: grpc-js answered INTERNAL "Error deserializing request" for every built-in method, and
  // connect-es answered INTERNAL "parse binary: ..." for Watch and reflection over gRPC-Web and Connect.
  const CHECK = "/grpc.health.v1.Health/Check";
  const WATCH = "/grpc.health.v1.Health/Watch";
  const REFLECT = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo";
  const grpcStatus = (r: { headers: http2.IncomingHttpHeaders; trailers: http2.IncomingHttpHeaders }) => [
    r.trailers["grpc-status"] ?? r.headers["grpc-status"],
    r.trailers["grpc-message"] ?? r.headers["grpc-message"],
  ];

  it("native gRPC (grpc-js): Check, Watch and reflection", async () => {
    for (const path of [CHECK, WATCH, REFLECT]) {
      const res = await h2Post({ "content-type": "application/grpc", te: "trailers" }, lengthPrefixed(BAD), path);
      expect(grpcStatus(res), path).toEqual(["3", "request:%20not%20a%20valid%20protobuf%20message"]);
    }
  });

  it("gRPC-Web and Connect streaming (connect-es): Watch over HTTP/1.1 and HTTP/2, reflection over HTTP/2", async () => {
    const webWatch = await fetch(`${t.baseUrl}${WATCH}`, {
      method: "POST",
      headers: { "content-type": "application/grpc-web+proto" },
      body: lengthPrefixed(BAD),
    });
    expect(Buffer.from(await webWatch.arrayBuffer()).toString("latin1")).toMatch(/grpc-status: ?3\r\n/);
    const connectWatch = await fetch(`${t.baseUrl}${WATCH}`, {
      method: "POST",
      headers: { "content-type": "application/connect+proto" },
      body: lengthPrefixed(BAD),
    });
    expect(Buffer.from(await connectWatch.arrayBuffer()).toString("latin1")).toContain(
      '{"code":"invalid_argument","message":"request: not a valid protobuf message"}',
    );
    for (const path of [WATCH, REFLECT]) {
      const web = await h2Post({ "content-type": "application/grpc-web+proto" }, lengthPrefixed(BAD), path);
      expect(web.body.toString("latin1"), path).toMatch(/grpc-status: ?3\r\n/);
      const connect = await h2Post({ "content-type": "application/connect+proto" }, lengthPrefixed(BAD), path);
      expect(connect.body.toString("latin1"), path).toContain('"code":"invalid_argument"');
    }
  });

  it("a compressed flag on a body declared uncompressed is INVALID_ARGUMENT (was INTERNAL), unary and streaming", async () => {
    const flagged = Buffer.from([1, 0, 0, 0, 3, 0x61, 0x62, 0x63]);
    const unary = await fetch(`${t.baseUrl}${PATH}`, {
      method: "POST",
      headers: { "content-type": "application/grpc-web+proto" },
      body: flagged,
    });
    const unaryText = Buffer.from(await unary.arrayBuffer()).toString("latin1");
    expect(unaryText).toMatch(/grpc-status: ?3\r\n/);
    const stream = await h2Post({ "content-type": "application/grpc-web+proto" }, flagged, REFLECT);
    expect(stream.body.toString("latin1")).toMatch(/grpc-status: ?3\r\n/);
    // The same words on both (the unary answer said "not a valid protobuf message").
    const said = (text: string) => decodeURIComponent(/grpc-message: ?([^\r]*)\r\n/.exec(text)?.[1] ?? "");
    expect(said(unaryText)).toBe("request: compressed flag set on an uncompressed body");
    expect(said(stream.body.toString("latin1"))).toBe("request: compressed flag set on an uncompressed body");
  });

  it("good messages are still served on each path (the checks refuse only bad input)", async () => {
    const grpc = await h2Post(
      { "content-type": "application/grpc", te: "trailers" },
      lengthPrefixed(Buffer.alloc(0)),
      CHECK,
    );
    expect(grpcStatus(grpc)[0]).toBe("0");
    // list_services (field 7, string "*")
    const list = await h2Post(
      { "content-type": "application/grpc-web+proto" },
      lengthPrefixed(Buffer.from([0x3a, 0x01, 0x2a])),
      REFLECT,
    );
    expect(list.body.toString("latin1")).toContain("warpflow.auth.v1.TokenService");
    expect(list.body.toString("latin1")).toMatch(/grpc-status: ?0\r\n/);
  });
});

describe("REST charset", () => {
  it("a body declared in a charset other than UTF-8 is 415; utf-8 (any case, quoted) is accepted", async () => {
    const post = (contentType: string) =>
      fetch(`${t.baseUrl}/api/v1/sessions`, {
        method: "POST",
        headers: { "content-type": contentType, authorization: `Bearer ${t.adminKey}` },
        body: JSON.stringify({ tenant_id: "acme" }),
      });
    for (const bad of [
      "application/json; charset=utf-16",
      "application/json; charset=iso-8859-1",
      "application/json;charset=UTF-16LE",
    ]) {
      const res = await post(bad);
      expect(res.status, bad).toBe(415);
      expect(await res.json()).toMatchObject({ error: { code: "unsupported_media_type" } });
    }
    for (const good of ["application/json; charset=utf-8", 'application/json; charset="UTF-8"', "application/json"]) {
      expect((await post(good)).status, good).toBe(200);
    }
  });
});
