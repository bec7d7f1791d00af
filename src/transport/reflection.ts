import { create, toBinary, type DescFile } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import type * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { protoPath as healthProtoPath } from "grpc-health-check";

/**
 * gRPC server reflection (v1 and v1alpha, via @grpc/reflection) built from the generated
 * protobuf-es descriptors, so what grpcurl sees is exactly what is compiled in. The health
 * service's descriptor is added so `grpcurl list` shows grpc.health.v1.Health too.
 */
export function addReflection(server: grpc.Server, files: DescFile[]): void {
  const all = new Map<string, DescFile>();
  const visit = (f: DescFile) => {
    if (all.has(f.name)) return;
    for (const dep of f.dependencies) visit(dep);
    all.set(f.name, f);
  };
  files.forEach(visit);
  const set = create(FileDescriptorSetSchema, { file: [...all.values()].map((f) => f.proto) });
  const ours = protoLoader.loadFileDescriptorSetFromBuffer(Buffer.from(toBinary(FileDescriptorSetSchema, set)), {
    keepCase: true,
  });
  const health = protoLoader.loadSync(healthProtoPath, { keepCase: true });
  new ReflectionService({ ...ours, ...health }).addToServer(server);
}
