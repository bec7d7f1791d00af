import type { DescFile } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";
import type * as grpc from "@grpc/grpc-js";
import { file_grpc_health_v1_health, Health } from "../gen/grpc/health/v1/health_pb.js";
import { addGrpcStreamingService } from "./grpc-streams.js";
import { createHealthService, type HealthService } from "./health.js";
import { createReflectionServices } from "./reflection.js";
import { registerConnectHandlers, type ServedService } from "./service-handlers.js";
import { limitOpenStreams } from "./stream-limit.js";

export interface BuiltinServices {
  health: HealthService;
  addToGrpc(server: grpc.Server): void;
  registerOn(router: ConnectRouter): void;
}

/**
 * grpc.health.v1 and server reflection (v1, v1alpha) for the application's services, served the
 * same way on the grpc-js server and the connect-node router. Reflection describes the given
 * files plus the health and reflection protos, all from the descriptors compiled into src/gen.
 * At most `maxOpenStreams` Watch and reflection calls are open at once (stream-limit.ts).
 */
export function createBuiltinServices(files: DescFile[], serviceNames: string[], maxOpenStreams: number): BuiltinServices {
  const health = createHealthService(serviceNames);
  const services: ServedService[] = limitOpenStreams(
    [health.served, ...createReflectionServices([...files, file_grpc_health_v1_health], [...serviceNames, Health.typeName])],
    maxOpenStreams,
  );
  return {
    health,
    addToGrpc: (server) => services.forEach((s) => addGrpcStreamingService(server, s)),
    registerOn: (router) => services.forEach((s) => registerConnectHandlers(router, s)),
  };
}
