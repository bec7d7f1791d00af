import * as http2 from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../support/test-app.js";

/**
 * A body that does not decode as the method's protobuf message is the caller's mistake: before the
 * fix it answered INTERNAL (500 / grpc-status 13 "Error deserializing request") and the call was
 * missing from /metrics. Now INVALID_ARGUMENT on every protocol, over both HTTP versions, counted.
 * Bytes: field 1 (token), length-delimited, claims 16 bytes, has 1.
 */
const BAD = Buffer.from([0x0a, 0x10, 0x41]);
const PATH = "/warpflow.auth.v1.TokenService/Introspect";
const envelope = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, 0, b.length]), b]);

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ logLevel: "warn" });
});
afterAll(async () => {
  await t?.close();
});

function h2Post(headers: Record<string, string>, body: Buffer) {
  return new Promise<{ status: number; headers: http2.IncomingHttpHeaders; trailers: http2.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
    const session = http2.connect(t.baseUrl);
    session.on("error", reject);
    const req = session.request({ ":method": "POST", ":path": PATH, ...headers });
    let responseHeaders: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    req.on("response", (h) => (responseHeaders = h));
    req.on("trailers", (h) => (trailers = h));
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      session.close();
      resolve({ status: Number(responseHeaders[":status"]), headers: responseHeaders, trailers, body: Buffer.concat(chunks) });
    });
    req.on("error", reject);
    req.end(body);
  });
}

const invalidArgumentCount = async () => {
  const text = await (await fetch(`${t.baseUrl}/metrics`)).text();
  return Number(/warpflow_rpc_duration_seconds_count\{method="Introspect",code="invalid_argument"\} (\d+)/.exec(text)?.[1] ?? "0");
};

describe("a protobuf body that does not decode is INVALID_ARGUMENT, counted", () => {
  it("on gRPC, gRPC-Web and Connect, over HTTP/1.1 and HTTP/2", async () => {
    const before = await invalidArgumentCount();

    const grpc = await h2Post({ "content-type": "application/grpc", te: "trailers" }, envelope(BAD));
    expect(grpc.trailers["grpc-status"] ?? grpc.headers["grpc-status"]).toBe("3");

    const grpcWebH2 = await h2Post({ "content-type": "application/grpc-web+proto" }, envelope(BAD));
    expect(grpcWebH2.body.toString("latin1")).toMatch(/grpc-status: ?3/);

    const connectH2 = await h2Post({ "content-type": "application/proto" }, BAD);
    expect(connectH2.status).toBe(400);
    expect(JSON.parse(connectH2.body.toString())).toMatchObject({ code: "invalid_argument" });

    const connectH1 = await fetch(`${t.baseUrl}${PATH}`, { method: "POST", headers: { "content-type": "application/proto" }, body: BAD });
    expect(connectH1.status).toBe(400);
    expect(await connectH1.json()).toMatchObject({ code: "invalid_argument", message: expect.stringContaining("not a valid protobuf message") });

    const grpcWebH1 = await fetch(`${t.baseUrl}${PATH}`, { method: "POST", headers: { "content-type": "application/grpc-web+proto" }, body: envelope(BAD) });
    expect(Buffer.from(await grpcWebH1.arrayBuffer()).toString("latin1")).toMatch(/grpc-status: ?3/);

    expect((await invalidArgumentCount()) - before).toBe(5);
  });

  it("a valid binary body is still served on each (the check does not refuse good input)", async () => {
    const good = Buffer.from([0x0a, 0x03, 0x61, 0x62, 0x63]); // token "abc"
    const res = await fetch(`${t.baseUrl}${PATH}`, { method: "POST", headers: { "content-type": "application/proto" }, body: good });
    expect(res.status).toBe(200);
    const h2 = await h2Post({ "content-type": "application/grpc-web+proto" }, envelope(good));
    expect(h2.status).toBe(200);
    expect(h2.body.toString("latin1")).toMatch(/grpc-status: ?0/);
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
    for (const bad of ["application/json; charset=utf-16", "application/json; charset=iso-8859-1", "application/json;charset=UTF-16LE"]) {
      const res = await post(bad);
      expect(res.status, bad).toBe(415);
      expect(await res.json()).toMatchObject({ error: { code: "unsupported_media_type" } });
    }
    for (const good of ["application/json; charset=utf-8", 'application/json; charset="UTF-8"', "application/json"]) {
      expect((await post(good)).status, good).toBe(200);
    }
  });
});
