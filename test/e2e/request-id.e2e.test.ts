import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { CreateKeyRequestSchema, CreateKeyResponseSchema } from "../../src/gen/warpflow/auth/v1/token_service_pb.js";
import { wellFormedRequestId } from "../../src/transport/protocol/request-id.js";
import { httpRequest } from "../support/authz.js";
import { pollUntil } from "../support/poll.js";
import { useTestApp, type TestApp } from "../support/test-app.js";

/**
 * The per-call request id: one per call (or the caller's well-formed x-request-id), in the rpc log
 * line and the audit log line of the same call, and returned as `x-request-id` (gRPC: response
 * metadata) whenever a line was written for the call. A hostile x-request-id is never echoed or
 * logged. Real service: gRPC (grpc-js), Connect JSON, REST, /authz.
 */
const GENERATED = /^[A-Za-z0-9_-]{8}-[0-9a-z]+$/;
type Line = Record<string, unknown>;
const parsed = (t: TestApp): Line[] => t.logs.map((l) => JSON.parse(l) as Line);

let tenants = 0;
/** A fresh tenant per key (at most 3 active keys per tenant). */
const tenant = () => `rid-${++tenants}`;

function connectCreateKey(t: TestApp, label: string, extra: Record<string, string> = {}) {
  return httpRequest(t.port, "/warpflow.auth.v1.TokenService/CreateKey", {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${t.adminKey}`, ...extra },
    body: JSON.stringify({ tenantId: tenant(), label }),
  });
}

/** The rpc and audit lines of the CreateKey whose label is `label` (the audit line names the key). */
async function linesOf(t: TestApp, requestId: string): Promise<{ rpc: Line[]; audit: Line[] }> {
  await pollUntil(() => parsed(t).some((l) => l.audit === true && l.request_id === requestId), 3000);
  const all = parsed(t).filter((l) => l.request_id === requestId);
  return { rpc: all.filter((l) => l.msg === "rpc"), audit: all.filter((l) => l.audit === true) };
}

describe("request id", () => {
  const t = useTestApp({ logLevel: "debug" });

  it("Connect: generated per call, returned as x-request-id, the same in the rpc and the audit line", async () => {
    const a = await connectCreateKey(t, "rid-a");
    const b = await connectCreateKey(t, "rid-b");
    const idA = String(a.headers["x-request-id"]);
    const idB = String(b.headers["x-request-id"]);
    expect(idA).toMatch(GENERATED);
    expect(idB).toMatch(GENERATED);
    expect(idA).not.toBe(idB);
    const lines = await linesOf(t, idA);
    expect(lines.rpc).toHaveLength(1);
    expect(lines.rpc[0]).toMatchObject({ rpc: "CreateKey", code: "ok" });
    expect(lines.audit.length).toBeGreaterThanOrEqual(1);
    expect(lines.audit[0]).toMatchObject({ action: "key.create" });
  });

  it("a well-formed incoming x-request-id (a gateway's UUID, a W3C trace id) is taken as the call's id", async () => {
    for (const incoming of ["3f1c9a52-7d7e-4a0c-9a43-0e6f5b1d2c11", "4bf92f3577b34da6a3ce929d0e0e4736"]) {
      const r = await connectCreateKey(t, "rid-in", { "x-request-id": incoming });
      expect(r.headers["x-request-id"]).toBe(incoming);
      const lines = await linesOf(t, incoming);
      expect(lines.rpc).toHaveLength(1);
      expect(lines.audit.length).toBeGreaterThanOrEqual(1);
    }
  });

  it("a hostile or token-like x-request-id is neither echoed nor logged: a generated one is used", async () => {
    const { token } = await t.grpc.createKey({ tenantId: tenant(), label: "leak" }, { bearer: t.adminKey });
    const hostile = [
      token,
      `req-${token}`,
      "a".repeat(65),
      "x".repeat(40),
      "<script>alert(1)</script>",
      'a"b',
      "a b",
      "eyJhbGciOiJIUzI1NiJ9",
      "Bearer-x",
      "",
    ];
    for (const value of hostile) {
      expect(wellFormedRequestId(value), value).toBe(false);
      const r = await connectCreateKey(t, "rid-hostile", { "x-request-id": value });
      expect(r.status).toBe(200);
      expect(String(r.headers["x-request-id"]), value).toMatch(GENERATED);
    }
    const all = t.logs.join("\n");
    for (const value of hostile.filter((v) => v.length > 3)) expect(all).not.toContain(value);
  });

  it("gRPC: response metadata x-request-id, the same as in the log lines; caller's id taken", async () => {
    const client = t.grpc.raw as grpc.Client;
    const call = (md: grpc.Metadata) =>
      new Promise<string | undefined>((resolve, reject) => {
        let id: string | undefined;
        const c = client.makeUnaryRequest(
          "/warpflow.auth.v1.TokenService/CreateKey",
          (m: object) => Buffer.from(toBinary(CreateKeyRequestSchema, create(CreateKeyRequestSchema, m))),
          (b: Buffer) => fromBinary(CreateKeyResponseSchema, b),
          { tenantId: tenant(), label: "rid-grpc" },
          md,
          (err) => (err ? reject(err) : resolve(id)),
        );
        c.on("metadata", (m) => (id = m.get("x-request-id")[0] as string | undefined));
      });
    const md = new grpc.Metadata();
    md.set("authorization", `Bearer ${t.adminKey}`);
    const generated = await call(md);
    expect(generated).toMatch(GENERATED);
    expect((await linesOf(t, generated!)).rpc[0]).toMatchObject({ rpc: "CreateKey" });
    md.set("x-request-id", "grpc-call-0001");
    expect(await call(md)).toBe("grpc-call-0001");
    expect((await linesOf(t, "grpc-call-0001")).audit.length).toBeGreaterThanOrEqual(1);
  });

  it("REST sessions and /authz carry it (the /authz and Introspect lines are debug lines)", async () => {
    const rest = await httpRequest(t.port, "/api/v1/sessions", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${t.adminKey}`, "x-request-id": "rest-1" },
      body: JSON.stringify({ tenant_id: "acme" }),
    });
    expect(rest.status).toBe(200);
    expect(rest.headers["x-request-id"]).toBe("rest-1");
    const denied = await httpRequest(t.port, "/authz", { headers: { authorization: "Bearer wf_acme_nope" } });
    expect(denied.status).toBe(401);
    const id = String(denied.headers["x-request-id"]);
    expect(id).toMatch(GENERATED);
    expect(parsed(t).find((l) => l.request_id === id)).toMatchObject({ rpc: "Authorize", level: 20 });
  });
});

describe("request id at LOG_LEVEL=info: the hot path pays nothing", () => {
  const t = useTestApp({ logLevel: "info" });

  it("Introspect and /authz write no line, so no id is made or returned; admin calls still get one", async () => {
    const { token } = await t.grpc.createKey({ tenantId: "acme", label: "hot" }, { bearer: t.adminKey });
    const introspect = await httpRequest(t.port, "/warpflow.auth.v1.TokenService/Introspect", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token }),
    });
    expect(introspect.status).toBe(200);
    expect(introspect.headers["x-request-id"]).toBeUndefined();
    const authz = await httpRequest(t.port, "/authz", { headers: { authorization: `Bearer ${token}` } });
    expect(authz.status).toBe(200);
    expect(authz.headers["x-request-id"]).toBeUndefined();
    expect((await connectCreateKey(t, "admin")).headers["x-request-id"]).toMatch(GENERATED);
  });
});
