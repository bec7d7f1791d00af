import * as http from "node:http";
import { create, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { IntrospectRequestSchema, ListKeysRequestSchema } from "../../src/gen/warpflow/auth/v1/token_service_pb.js";
import { paddedHeadersKept } from "../support/padded-headers.js";
import { h2Request } from "../support/h2-request.js";
import { lengthPrefixed } from "../support/raw-socket.js";
import { useTestApp, type TestApp } from "../support/test-app.js";

/**
 * Every header a door reads, padded with spaces and tabs (and only whitespace), answers the same
 * over HTTP/2 as over HTTP/1.1. Since the HTTP/2 server keeps a padded value as sent
 * (strictFieldWhitespaceValidation: false, grpc-injector.ts) each door must read it as HTTP/1.1's
 * parser gives it (trimmed); a door that read one raw would answer differently, and one that reads
 * a padded credential differently could let a wrong one in. Compared: status, grpc-status and the
 * error code of the body (never a token). Native gRPC has no HTTP/1.1 twin in grpc-js: there the
 * transport headers must answer as connect-node's gRPC over HTTP/1.1, and a padded credential is
 * refused (metadata as sent, as grpc-js takes it). The server must never answer 5xx/INTERNAL, and
 * no secret may reach its logs.
 */
const supported = paddedHeadersKept("h2-padded-headers-parity");
const CALLER = `caller-${"k".repeat(34)}`;
const WRONG_CALLER = `caller-${"k".repeat(33)}x`;
const pads = (v: string) => [v, ` ${v}`, `${v} `, `\t${v}`, `${v}\t`, ` ${v}\t`, `\t ${v} \t`];
const BLANK = ["   ", "\t", " \t "];

type Headers = Record<string, string>;
interface Answer {
  status: number;
  grpc: string;
  error: string;
}

function h1(port: number, method: string, path: string, headers: Headers, body: string | Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path, method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve(summary(res.statusCode!, res.trailers["grpc-status"] ?? res.headers["grpc-status"], chunks)),
      );
    });
    req.on("error", reject);
    req.end(method === "GET" ? undefined : body);
  });
}

async function h2(port: number, method: string, path: string, headers: Headers, body: string | Buffer) {
  const a = await h2Request(port, { ":method": method, ":path": path, ...headers }, method === "GET" ? undefined : body)
    .done;
  if (a.error) throw new Error(a.error);
  return summary(a.status, a.grpcStatus, [a.body]);
}

/** The error code of a JSON error body (REST, /authz, RFC 6749, Connect), or "" for any other body. */
function summary(status: number, grpc: string | string[] | undefined, chunks: Buffer[]): Answer {
  const text = Buffer.concat(chunks).toString("utf8");
  let error = "";
  try {
    const j = JSON.parse(text) as { error?: string | { code?: string }; code?: string };
    error = typeof j.error === "string" ? j.error : (j.error?.code ?? j.code ?? "");
  } catch {
    // not JSON: a protobuf or empty body
  }
  return { status, grpc: String(grpc ?? "-"), error };
}

const envelope = (b: Uint8Array) => lengthPrefixed(b);

describe.skipIf(!supported)("HTTP/2 padded header values answer as HTTP/1.1", () => {
  const t = useTestApp({ env: { INTROSPECT_CALLER_TOKEN: CALLER }, logLevel: "debug" });
  const both = async (method: string, path: string, headers: Headers, body: string | Buffer = "") => ({
    h1: await h1(t.port, method, path, headers, body),
    h2: await h2(t.port, method, path, headers, body),
  });
  let compared = 0;
  const same = async (label: string, method: string, path: string, headers: Headers, body?: string | Buffer) => {
    const r = await both(method, path, headers, body);
    expect(r.h2, label).toEqual(r.h1);
    expect(r.h1.status, label).not.toBe(500); // 501: connect-es's answer to an empty content-encoding, on both
    expect(r.h1.grpc, label).not.toBe("13");
    compared++;
    return r.h1;
  };
  // A tenant holds at most 3 active keys: each test takes its own.
  const keyOf = async (t: TestApp, tenantId: string, scopes: string[] = [], allowedCidrs: string[] = []) =>
    (
      await t.grpc.createKey(
        { tenantId, label: "padded", scopes, allowedCidrs },
        { bearer: t.adminKey, metadata: { "x-warpflow-caller-token": CALLER } },
      )
    ).token;

  it("/authz: credential, caller token, scopes, binding, client address, request id", async () => {
    const token = await keyOf(t, "acme", ["contacts:read"]);
    const fenced = await keyOf(t, "acme", [], ["203.0.113.0/24"]);
    const base = { authorization: `Bearer ${token}`, "x-warpflow-caller-token": CALLER };
    const authz = (label: string, headers: Headers) =>
      same(`/authz ${label}`, "GET", "/authz", { ...base, ...headers });
    for (const v of pads(`Bearer ${token}`))
      expect((await authz("authorization", { authorization: v })).status).toBe(200);
    for (const v of [...pads(`Bearer ${token}x`), ...BLANK])
      expect((await authz("bad authorization", { authorization: v })).status).toBe(401);
    for (const v of pads(CALLER)) expect((await authz("caller", { "x-warpflow-caller-token": v })).status).toBe(200);
    for (const v of [...pads(WRONG_CALLER), ...BLANK])
      expect((await authz("wrong caller", { "x-warpflow-caller-token": v })).status).toBe(401);
    for (const v of pads("deals:write"))
      expect((await authz("scopes", { "x-warpflow-required-scopes": v })).status).toBe(403);
    for (const v of pads("contacts:read"))
      expect((await authz("own scope", { "x-warpflow-required-scopes": v })).status).toBe(200);
    for (const v of pads("other"))
      expect((await authz("binding", { "x-warpflow-expected-tenant-id": v })).status).toBe(403);
    for (const v of [...pads("acme"), ...pads("*")])
      expect((await authz("own binding", { "x-warpflow-expected-tenant-id": v })).status).toBe(200);
    for (const v of [...BLANK, ...pads("x-req-1")]) {
      await authz("blank scopes", { "x-warpflow-required-scopes": v });
      await authz("blank binding", { "x-warpflow-expected-tenant-id": v });
      await authz("request id", { "x-request-id": v });
    }
    const fencedBase = { ...base, authorization: `Bearer ${fenced}` };
    for (const v of pads("198.51.100.7"))
      expect((await authz("outside", { ...fencedBase, "x-warpflow-client-address": v })).status).toBe(401);
    for (const v of pads("203.0.113.9"))
      expect((await authz("inside", { ...fencedBase, "x-warpflow-client-address": v })).status).toBe(200);
    for (const v of BLANK) await authz("blank address", { ...fencedBase, "x-warpflow-client-address": v });
  });

  it("/oauth2/introspect and POST /api/v1/sessions: credentials and content types", async () => {
    const token = await keyOf(t, "beta");
    const form = `token=${token}`;
    const formType = { "content-type": "application/x-www-form-urlencoded" };
    const oauth = (label: string, headers: Headers) =>
      same(`oauth2 ${label}`, "POST", "/oauth2/introspect", headers, form);
    for (const v of pads(`Bearer ${CALLER}`))
      expect((await oauth("bearer", { ...formType, authorization: v })).status).toBe(200);
    for (const v of pads(CALLER))
      expect((await oauth("caller", { ...formType, "x-warpflow-caller-token": v })).status).toBe(200);
    for (const v of [...pads(`Bearer ${WRONG_CALLER}`), ...BLANK])
      expect((await oauth("wrong bearer", { ...formType, authorization: v })).status).toBe(401);
    for (const v of [...pads(WRONG_CALLER), ...BLANK])
      expect((await oauth("wrong caller", { ...formType, "x-warpflow-caller-token": v })).status).toBe(401);
    for (const v of [...pads("application/x-www-form-urlencoded"), ...BLANK])
      await oauth("content-type", { "x-warpflow-caller-token": CALLER, "content-type": v });
    const rest = (label: string, headers: Headers) =>
      same(`sessions ${label}`, "POST", "/api/v1/sessions", headers, '{"tenant_id":"acme"}');
    for (const v of pads(`Bearer ${t.adminKey}`))
      expect((await rest("admin", { "content-type": "application/json", authorization: v })).status).toBe(200);
    for (const v of [...pads(`Bearer ${token}`), ...pads(`Bearer ${t.adminKey}x`), ...BLANK])
      expect((await rest("not admin", { "content-type": "application/json", authorization: v })).status).not.toBe(200);
    for (const v of [...pads("application/json; charset=utf-8"), ...BLANK])
      await rest("content-type", { "content-type": v, authorization: `Bearer ${t.adminKey}` });
  });

  it("Connect and gRPC-Web: content type, protocol headers, caller token, admin credential", async () => {
    const token = await keyOf(t, "gamma");
    const INTROSPECT = "/warpflow.auth.v1.TokenService/Introspect";
    const LIST = "/warpflow.auth.v1.TokenService/ListKeys";
    const json = JSON.stringify({ token });
    const listJson = JSON.stringify({ tenantId: "gamma" });
    const call = { "content-type": "application/json", "x-warpflow-caller-token": CALLER };
    for (const v of [...pads("application/json"), ...BLANK])
      await same("connect content-type", "POST", INTROSPECT, { ...call, "content-type": v }, json);
    for (const [name, value] of [
      ["connect-protocol-version", "1"],
      ["connect-timeout-ms", "5000"],
      ["content-encoding", "identity"],
      ["accept-encoding", "gzip"],
      ["user-agent", "probe/1"],
    ] as const)
      for (const v of [...pads(value), ...BLANK])
        await same(`connect ${name}`, "POST", INTROSPECT, { ...call, [name]: v }, json);
    for (const v of pads(CALLER))
      expect(
        (await same("connect caller", "POST", INTROSPECT, { ...call, "x-warpflow-caller-token": v }, json)).status,
      ).toBe(200);
    for (const v of [...pads(WRONG_CALLER), ...BLANK])
      expect(
        (await same("connect wrong caller", "POST", INTROSPECT, { ...call, "x-warpflow-caller-token": v }, json))
          .status,
      ).toBe(401);
    for (const v of pads(`Bearer ${t.adminKey}`))
      expect(
        (await same("connect admin", "POST", LIST, { "content-type": "application/json", authorization: v }, listJson))
          .status,
      ).toBe(200);
    for (const v of [...pads(`Bearer ${token}`), ...pads(`Bearer ${t.adminKey}x`), ...BLANK])
      expect(
        (
          await same(
            "connect not admin",
            "POST",
            LIST,
            { "content-type": "application/json", authorization: v },
            listJson,
          )
        ).status,
      ).not.toBe(200);
    const listBody = envelope(toBinary(ListKeysRequestSchema, create(ListKeysRequestSchema, { tenantId: "acme" })));
    for (const v of pads("application/grpc-web+proto"))
      await same(
        "grpc-web content-type",
        "POST",
        LIST,
        { "content-type": v, authorization: `Bearer ${t.adminKey}` },
        listBody,
      );
    for (const v of [...pads(`Bearer ${t.adminKey}`), ...pads(`Bearer ${token}`), ...BLANK])
      await same(
        "grpc-web admin",
        "POST",
        LIST,
        { "content-type": "application/grpc-web+proto", authorization: v },
        listBody,
      );
  });

  it("native gRPC: transport headers answer as gRPC over HTTP/1.1; a padded credential is refused, never taken", async () => {
    const token = await keyOf(t, "delta");
    const INTROSPECT = "/warpflow.auth.v1.TokenService/Introspect";
    const LIST = "/warpflow.auth.v1.TokenService/ListKeys";
    const introspectBody = envelope(toBinary(IntrospectRequestSchema, create(IntrospectRequestSchema, { token })));
    const listBody = envelope(toBinary(ListKeysRequestSchema, create(ListKeysRequestSchema, { tenantId: "acme" })));
    const grpc = { "content-type": "application/grpc", te: "trailers" };
    const introspect = { ...grpc, "x-warpflow-caller-token": CALLER };
    const list = { ...grpc, authorization: `Bearer ${t.adminKey}` };
    for (const [name, value] of [
      ["content-type", "application/grpc"],
      ["grpc-timeout", "5S"],
      ["grpc-encoding", "identity"],
      ["grpc-accept-encoding", "gzip"],
    ] as const)
      for (const v of pads(value)) {
        await same(`grpc Introspect ${name}`, "POST", INTROSPECT, { ...introspect, [name]: v }, introspectBody);
        await same(`grpc ListKeys ${name}`, "POST", LIST, { ...list, [name]: v }, listBody);
      }
    const grpcStatus = async (path: string, headers: Headers, body: Buffer) =>
      (await h2(t.port, "POST", path, headers, body)).grpc;
    for (const v of [...pads(CALLER).slice(1), ...pads(WRONG_CALLER), ...BLANK])
      expect(
        await grpcStatus(INTROSPECT, { ...introspect, "x-warpflow-caller-token": v }, introspectBody),
        JSON.stringify(v),
      ).toBe("16");
    for (const v of [...pads(`Bearer ${t.adminKey}`).slice(1), ...pads(`Bearer ${token}`), ...BLANK])
      expect(await grpcStatus(LIST, { ...list, authorization: v }, listBody), JSON.stringify(v)).toMatch(/^(16|7)$/);
    expect(await grpcStatus(INTROSPECT, introspect, introspectBody)).toBe("0");
    expect(await grpcStatus(LIST, list, listBody)).toBe("0");
  });

  it("figures, and no secret in any log line", () => {
    console.log(`[h2-padded-headers-parity] ${compared} requests compared over HTTP/1.1 and HTTP/2`);
    expect(compared).toBeGreaterThan(300);
    const logs = t.logs.join("\n");
    for (const secret of [t.adminKey, CALLER]) expect(logs).not.toContain(secret.slice(-20));
  });
});
