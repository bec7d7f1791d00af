import { create, fromBinary, toBinary, type DescEnum, type DescFile, type DescMessage } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, type FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import { createClient, type Transport } from "@connectrpc/connect";
import * as v1 from "../../src/gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "../../src/gen/grpc/reflection/v1alpha/reflection_pb.js";

export type ReflectionVersion = "v1" | "v1alpha";
export type ReflectionRequest = v1.ServerReflectionRequest["messageRequest"];
export type ReflectionAnswer =
  | { case: "files"; files: FileDescriptorProto[] }
  | { case: "services"; services: string[] }
  | { case: "error"; code: number; message: string }
  | { case: "other" };

/**
 * Sends every request on ONE ServerReflectionInfo stream (v1 or v1alpha, through the generated
 * protobuf-es client) and returns the answers in order, with file descriptors decoded.
 */
export async function reflect(
  transport: Transport,
  version: ReflectionVersion,
  requests: ReflectionRequest[],
): Promise<ReflectionAnswer[]> {
  const out: ReflectionAnswer[] = [];
  const decode = (res: v1.ServerReflectionResponse): ReflectionAnswer => {
    const r = res.messageResponse;
    if (r.case === "fileDescriptorResponse")
      return { case: "files", files: r.value.fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b)) };
    if (r.case === "listServicesResponse") return { case: "services", services: r.value.service.map((s) => s.name) };
    if (r.case === "errorResponse") return { case: "error", code: r.value.errorCode, message: r.value.errorMessage };
    return { case: "other" };
  };
  if (version === "v1") {
    const client = createClient(v1.ServerReflection, transport);
    async function* input() {
      for (const messageRequest of requests) yield create(v1.ServerReflectionRequestSchema, { messageRequest });
    }
    for await (const res of client.serverReflectionInfo(input(), { timeoutMs: 10_000 })) out.push(decode(res));
  } else {
    const client = createClient(v1alpha.ServerReflection, transport);
    async function* input() {
      for (const messageRequest of requests)
        yield create(v1alpha.ServerReflectionRequestSchema, { messageRequest } as never);
    }
    for await (const res of client.serverReflectionInfo(input(), { timeoutMs: 10_000 })) {
      out.push(
        decode(fromBinary(v1.ServerReflectionResponseSchema, toBinary(v1alpha.ServerReflectionResponseSchema, res))),
      );
    }
  }
  return out;
}

/** Every file of the transitive closure of `roots`, by file name. */
export function closure(roots: DescFile[]): Map<string, DescFile> {
  const all = new Map<string, DescFile>();
  const visit = (f: DescFile) => {
    if (all.has(f.proto.name)) return;
    all.set(f.proto.name, f);
    f.dependencies.forEach(visit);
  };
  roots.forEach(visit);
  return all;
}

/** Every service, method, message (nested too) and enum (nested too) a file declares: [symbol, file name]. */
export function symbolsOf(file: DescFile): string[] {
  const out: string[] = [];
  const en = (e: DescEnum) => out.push(e.typeName);
  const msg = (m: DescMessage) => {
    out.push(m.typeName);
    m.nestedMessages.forEach(msg);
    m.nestedEnums.forEach(en);
  };
  for (const s of file.services) out.push(s.typeName, ...s.methods.map((m) => `${s.typeName}.${m.name}`));
  file.messages.forEach(msg);
  file.enums.forEach(en);
  return out;
}

export const compiledBytes = (f: DescFile) => toBinary(FileDescriptorProtoSchema, f.proto);
export const servedBytes = (p: FileDescriptorProto) => toBinary(FileDescriptorProtoSchema, p);
