import { file_envoy_service_auth_v3_external_auth } from "../../src/gen/envoy/service/auth/v3/external_auth_pb.js";
import { create, createFileRegistry, fromBinary, toBinary, type DescMessage } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema, type FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import {
  file_grpc_health_v1_health,
  Health,
  HealthCheckRequestSchema,
  HealthCheckResponse_ServingStatus as Status,
  HealthCheckResponseSchema,
} from "../../src/gen/grpc/health/v1/health_pb.js";
import { file_grpc_reflection_v1_reflection } from "../../src/gen/grpc/reflection/v1/reflection_pb.js";
import { file_grpc_reflection_v1alpha_reflection } from "../../src/gen/grpc/reflection/v1alpha/reflection_pb.js";
import { file_warpflow_auth_v1_token_service } from "../../src/gen/warpflow/auth/v1/token_service_pb.js";
import {
  closure,
  compiledBytes,
  reflect,
  servedBytes,
  symbolsOf,
  type ReflectionVersion,
} from "../support/reflection.js";
import { startTestApp, useTestApp } from "../support/test-app.js";

/**
 * Server reflection must hand strict clients (grpcurl, buf curl, grpcio) descriptors they can
 * link: the exact compiled FileDescriptorProtos, dependency lists intact. Checked with a real
 * reflection client (connect-es gRPC transport + the generated v1/v1alpha clients) and
 * @bufbuild/protobuf's createFileRegistry, which throws on a missing dependency.
 */
const t = useTestApp();

const SERVICES = [
  "warpflow.auth.v1.TokenService",
  "envoy.service.auth.v3.Authorization",
  "grpc.health.v1.Health",
  "grpc.reflection.v1.ServerReflection",
  "grpc.reflection.v1alpha.ServerReflection",
];
const FILES = closure([
  file_warpflow_auth_v1_token_service,
  file_envoy_service_auth_v3_external_auth,
  file_grpc_health_v1_health,
  file_grpc_reflection_v1_reflection,
  file_grpc_reflection_v1alpha_reflection,
]);
/** A FileDescriptorSet lists imports before their importers (what createFileRegistry expects). */
function dependenciesFirst(files: FileDescriptorProto[]): FileDescriptorProto[] {
  const byName = new Map(files.map((f) => [f.name, f]));
  const out: FileDescriptorProto[] = [];
  const visit = (f: FileDescriptorProto | undefined) => {
    if (!f || out.includes(f)) return;
    f.dependency.forEach((d) => visit(byName.get(d)));
    out.push(f);
  };
  files.forEach(visit);
  return out;
}
const grpcTransport = () => createGrpcTransport({ baseUrl: t.baseUrl });

describe.each<ReflectionVersion>(["v1", "v1alpha"])("server reflection %s", (version) => {
  it("lists TokenService, Health and the reflection services", async () => {
    const [answer] = await reflect(grpcTransport(), version, [{ case: "listServices", value: "" }]);
    expect(answer?.case === "services" && [...answer.services].sort()).toEqual([...SERVICES].sort());
  });

  it("links: the files of every listed service build a registry, with google.protobuf.Timestamp resolved", async () => {
    const answers = await reflect(
      grpcTransport(),
      version,
      SERVICES.map((s) => ({ case: "fileContainingSymbol" as const, value: s })),
    );
    const byName = new Map<string, FileDescriptorProto>();
    for (const a of answers) {
      expect(a.case).toBe("files");
      if (a.case === "files") for (const f of a.files) byName.set(f.name, f);
    }
    expect([...byName.keys()].sort()).toEqual([...FILES.keys()].sort());
    const registry = createFileRegistry(
      create(FileDescriptorSetSchema, { file: dependenciesFirst([...byName.values()]) }),
    );
    const out = registry.getService("warpflow.auth.v1.TokenService")!.method.introspect!.output as DescMessage;
    expect(out.fields.find((f) => f.name === "expires_at")!.message!.typeName).toBe("google.protobuf.Timestamp");
    // One answer alone links too: it carries the file's transitive dependencies.
    const [only] = await reflect(grpcTransport(), version, [
      { case: "fileContainingSymbol", value: "warpflow.auth.v1.TokenService" },
    ]);
    const files = only?.case === "files" ? only.files : [];
    // Issue 22 added duration.proto and field_mask.proto to the imports.
    const deps = [
      "google/protobuf/duration.proto",
      "google/protobuf/field_mask.proto",
      "google/protobuf/timestamp.proto",
    ];
    expect(files.map((f) => f.name)).toEqual(["warpflow/auth/v1/token_service.proto", ...deps]);
    expect(files[0]!.dependency).toEqual(deps);
    expect(() => createFileRegistry(files[0]!, (name) => files.find((f) => f.name === name))).not.toThrow();
  });

  it("file_by_filename answers every file of the closure with its exact compiled descriptor", async () => {
    const names = [...FILES.keys()];
    expect(names).toEqual(expect.arrayContaining(["google/protobuf/timestamp.proto", "grpc/health/v1/health.proto"]));
    const answers = await reflect(
      grpcTransport(),
      version,
      names.map((value) => ({ case: "fileByFilename" as const, value })),
    );
    answers.forEach((a, i) => {
      const file = FILES.get(names[i]!)!;
      expect(a.case, names[i]).toBe("files");
      if (a.case !== "files") return;
      expect(a.files[0]!.name).toBe(names[i]);
      expect(Buffer.from(servedBytes(a.files[0]!)).equals(Buffer.from(compiledBytes(file))), names[i]).toBe(true);
      expect(a.files.map((f) => f.name).sort()).toEqual([...closure([file]).keys()].sort());
    });
  });

  it("file_containing_symbol answers every service, method, message and enum, nested ones too", async () => {
    const cases = [...FILES.values()].flatMap((f) => symbolsOf(f).map((symbol) => [symbol, f.proto.name] as const));
    for (const s of [
      "warpflow.auth.v1.TokenService.Introspect",
      "grpc.health.v1.HealthCheckResponse.ServingStatus",
      "warpflow.auth.v1.TokenType",
    ]) {
      expect(cases.map(([sym]) => sym)).toContain(s);
    }
    const answers = await reflect(
      grpcTransport(),
      version,
      cases.map(([value]) => ({ case: "fileContainingSymbol" as const, value })),
    );
    answers.forEach((a, i) => {
      expect(a.case === "files" && a.files[0]!.name, cases[i]![0]).toBe(cases[i]![1]);
    });
  });

  it("unknown names answer error_response NOT_FOUND and the stream carries on", async () => {
    const answers = await reflect(grpcTransport(), version, [
      { case: "fileContainingSymbol", value: "warpflow.auth.v1.Nope" },
      { case: "fileByFilename", value: "nope.proto" },
      {
        case: "fileContainingExtension",
        value: { containingType: "warpflow.auth.v1.IntrospectRequest", extensionNumber: 100 } as never,
      },
      { case: "allExtensionNumbersOfType", value: "warpflow.auth.v1.Nope" },
      { case: "listServices", value: "" },
    ]);
    expect(answers.slice(0, 4).map((a) => a.case === "error" && a.code)).toEqual([
      Code.NotFound,
      Code.NotFound,
      Code.NotFound,
      Code.NotFound,
    ]);
    expect(answers[4]!.case).toBe("services");
  });
});

describe("grpc.health.v1 from the generated descriptors", () => {
  it("Check answers SERVING for the overall status and TokenService, NOT_FOUND for an unknown name (grpc-js client)", async () => {
    const client = new grpc.Client(t.address, grpc.credentials.createInsecure());
    const check = (service: string) =>
      new Promise<Status>((resolve, reject) =>
        client.makeUnaryRequest(
          "/grpc.health.v1.Health/Check",
          (m: { service: string }) =>
            Buffer.from(toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, m))),
          (b: Buffer) => fromBinary(HealthCheckResponseSchema, b),
          { service },
          (err, res) => (err ? reject(err) : resolve(res!.status)),
        ),
      );
    try {
      expect(await check("")).toBe(Status.SERVING);
      expect(await check("warpflow.auth.v1.TokenService")).toBe(Status.SERVING);
      await expect(check("nope")).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
    } finally {
      client.close();
    }
  });

  it("Check and List over Connect (HTTP/1.1) run the same service", async () => {
    const client = createClient(Health, createConnectTransport({ baseUrl: t.baseUrl, httpVersion: "1.1" }));
    expect((await client.check({ service: "" })).status).toBe(Status.SERVING);
    const err = await client.check({ service: "nope" }).catch((e: unknown) => e);
    expect(ConnectError.from(err).code).toBe(Code.NotFound);
    const list = await client.list({});
    expect(Object.fromEntries(Object.entries(list.statuses).map(([k, v]) => [k, v.status]))).toEqual({
      "": Status.SERVING,
      "warpflow.auth.v1.TokenService": Status.SERVING,
      "envoy.service.auth.v3.Authorization": Status.SERVING,
    });
  });

  it("Watch streams SERVING, then NOT_SERVING when the server shuts down, then ends (so it never holds the drain)", async () => {
    const own = await startTestApp();
    const client = createClient(Health, createGrpcTransport({ baseUrl: own.baseUrl }));
    const seen: Status[] = [];
    const unknown: Status[] = [];
    const watching = (async () => {
      for await (const r of client.watch({ service: "warpflow.auth.v1.TokenService" }, { timeoutMs: 10_000 })) {
        seen.push(r.status);
        if (seen.length === 1) {
          for await (const u of client.watch({ service: "nope" }, { timeoutMs: 10_000 })) {
            unknown.push(u.status);
            break;
          }
          void own.close();
        }
      }
    })();
    await watching;
    expect(unknown).toEqual([Status.SERVICE_UNKNOWN]);
    expect(seen).toEqual([Status.SERVING, Status.NOT_SERVING]);
  });
});
