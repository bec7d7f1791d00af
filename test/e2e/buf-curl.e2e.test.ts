import { describe, expect, it } from "vitest";
import { TokenService } from "../../src/gen/warpflow/auth/v1/token_service_pb.js";
import { bufCurl } from "../support/buf-curl.js";
import { useTestApp } from "../support/test-app.js";

/**
 * buf curl (a reflection client written elsewhere, strict: it links every descriptor it is given)
 * against the running server with server reflection as the ONLY schema source, over both
 * reflection protocols. Before reflection served the compiled descriptors, every call here failed
 * with `failed to find service named ... in schema`.
 */
const t = useTestApp();

/** From the compiled descriptor: buf curl must see exactly what the server was built from. */
const TOKEN_METHODS = TokenService.methods.map((m) => m.name).sort();

describe.each(["grpc-v1", "grpc-v1alpha"])(
  "buf curl --reflect-protocol %s (reflection only, no --schema)",
  (reflectProtocol) => {
    const curl = async (args: string[]) => {
      const r = await bufCurl([
        "--protocol",
        "grpc",
        "--http2-prior-knowledge",
        "--reflect-protocol",
        reflectProtocol,
        ...args,
      ]);
      expect(
        r.stderr,
        `buf curl ${args.map((a) => (a.startsWith("authorization:") ? "authorization: <redacted>" : a)).join(" ")}`,
      ).toBe("");
      expect(r.code).toBe(0);
      return r.stdout;
    };
    const call = async (method: string, body: object, bearer?: string) =>
      JSON.parse(
        await curl([
          ...(bearer ? ["-H", `authorization: Bearer ${bearer}`] : []),
          "-d",
          JSON.stringify(body),
          `${t.baseUrl}/warpflow.auth.v1.TokenService/${method}`,
        ]),
        // eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON a client program printed, checked by the assertions
      ) as Record<string, any>;

    it("--list-services lists TokenService, Health and the reflection services", async () => {
      expect((await curl(["--list-services", t.baseUrl])).trim().split("\n")).toEqual([
        "envoy.service.auth.v3.Authorization",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
        "warpflow.auth.v1.TokenService",
      ]);
    });

    it("--list-methods lists every TokenService and Health method", async () => {
      const methods = (await curl(["--list-methods", t.baseUrl])).trim().split("\n");
      expect(methods).toEqual(
        expect.arrayContaining([
          ...TOKEN_METHODS.map((m) => `warpflow.auth.v1.TokenService/${m}`),
          "grpc.health.v1.Health/Check",
          "grpc.health.v1.Health/Watch",
        ]),
      );
      expect(methods.filter((m) => m.startsWith("warpflow."))).toEqual(
        TOKEN_METHODS.map((m) => `warpflow.auth.v1.TokenService/${m}`),
      );
    });

    it("calls CreateKey, Introspect and ListKeys, answers in protobuf JSON with RFC 3339 timestamps", async () => {
      const tenant = reflectProtocol === "grpc-v1" ? "bufc-v1" : "bufc-v1alpha";
      const created = await call("CreateKey", { tenant_id: tenant, label: "buf curl" }, t.adminKey);
      expect(created.token).toMatch(new RegExp(`^wf_${tenant}_[0-9A-Za-z]{38}$`));
      expect(created.key).toMatchObject({ tenantId: tenant, label: "buf curl", status: "KEY_STATUS_ACTIVE" });
      expect(created.key.createdAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);

      const introspected = await call("Introspect", { token: created.token, expected_tenant_id: tenant });
      expect(introspected).toMatchObject({
        active: true,
        tokenType: "TOKEN_TYPE_API_KEY",
        tenantId: tenant,
        keyId: created.key.id,
      });

      const listed = await call("ListKeys", { tenant_id: tenant }, t.adminKey);
      expect(listed.keys.map((k: { id: string }) => k.id)).toEqual([created.key.id]);
    });

    it("a refused call prints the gRPC status (unauthenticated) and exits non-zero", async () => {
      const r = await bufCurl([
        "--protocol",
        "grpc",
        "--http2-prior-knowledge",
        "--reflect-protocol",
        reflectProtocol,
        "-d",
        '{"tenant_id":"acme"}',
        `${t.baseUrl}/warpflow.auth.v1.TokenService/ListKeys`,
      ]);
      expect(r.code).not.toBe(0);
      expect(JSON.parse(r.stdout || r.stderr.slice(r.stderr.indexOf("{")))).toMatchObject({ code: "unauthenticated" });
    });
  },
);
