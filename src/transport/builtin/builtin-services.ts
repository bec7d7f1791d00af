import type { DescFile } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";
import { file_grpc_health_v1_health, Health } from "../../gen/grpc/health/v1/health_pb.js";
import { addGrpcStreamingService } from "../grpc/grpc-streams.js";
import { createHealthService, type HealthService } from "./health.js";
import { createReflectionServices } from "./reflection.js";
import { registerConnectHandlers } from "../connect/connect-builtins.js";
import type { ServedService } from "../protocol/served-service.js";
import { FIXED_LIMITS } from "../../config/limits.js";
import { limitOpenStreams, type OpenStreamLimits } from "./stream-limit.js";

/** The largest request message of health and reflection (config/limits.ts explains the figure). */
const BUILTIN_MESSAGE_MAX_BYTES = FIXED_LIMITS.builtinMessageMaxBytes;

export interface BuiltinServices {
  health: HealthService;
  addToGrpc(server: Parameters<typeof addGrpcStreamingService>[0]): void;
  registerOn(router: ConnectRouter): void;
}

/**
 * grpc.health.v1 and server reflection (v1, v1alpha) for the application's services, served the
 * same way on the grpc-js server and the connect-node router. Reflection describes the given
 * files plus the health and reflection protos, all from the descriptors compiled into src/gen.
 * Watch and reflection calls open at once are bounded in all and per client address
 * (stream-limit.ts), and their request messages are at most BUILTIN_MESSAGE_MAX_BYTES.
 */
export function createBuiltinServices(
  files: DescFile[],
  serviceNames: string[],
  limits: OpenStreamLimits,
): BuiltinServices {
  const health = createHealthService(serviceNames);
  const services: ServedService[] = limitOpenStreams(
    [
      health.served,
      ...createReflectionServices([...files, file_grpc_health_v1_health], [...serviceNames, Health.typeName]),
    ],
    limits,
  );
  return {
    health,
    addToGrpc: (server) => services.forEach((s) => addGrpcStreamingService(server, s, BUILTIN_MESSAGE_MAX_BYTES)),
    registerOn: (router) => services.forEach((s) => registerConnectHandlers(router, s, BUILTIN_MESSAGE_MAX_BYTES)),
  };
}
