import { fromBinary, toBinary, type DescMessage, type DescService } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import type { CallObserver } from "./call-observer.js";
import { mapError } from "./error-mapping.js";
import type { CallContext, UnaryHandlers } from "./unary-handlers.js";

/** gRPC OK; Connect's Code enum has no member for success. */
export const OK = 0 as Code;
import { bearerToken } from "../domain/admin-api.js";

/**
 * Serves a protobuf-es service on a @grpc/grpc-js server: the method table is derived from the
 * generated descriptor (so it can never drift from the proto), messages are encoded with
 * protobuf-es, and every call ends in the shared observer and error mapping.
 */
export function addProtobufService<S extends DescService>(
  server: grpc.Server,
  service: S,
  handlers: UnaryHandlers<S>,
  observer: CallObserver,
): void {
  const definition: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  const implementation: grpc.UntypedServiceImplementation = {};
  for (const method of service.methods) {
    if (method.methodKind !== "unary") throw new Error(`${method.name}: only unary methods are supported`);
    const input = method.input as DescMessage;
    const output = method.output as DescMessage;
    definition[method.localName] = {
      path: `/${service.typeName}/${method.name}`,
      requestStream: false,
      responseStream: false,
      requestSerialize: (m: unknown) => Buffer.from(toBinary(input, m as never)),
      requestDeserialize: (b: Buffer) => fromBinary(input, b),
      responseSerialize: (m: unknown) => {
        const bytes = toBinary(output, m as never);
        return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      },
      responseDeserialize: (b: Buffer) => fromBinary(output, b),
      originalName: method.localName,
    };
    const handler = (handlers as Record<string, (req: unknown, ctx: CallContext) => Promise<unknown>>)[method.localName]!;
    const name = method.name;
    implementation[method.localName] = ((call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const start = process.hrtime.bigint();
      const auth = call.metadata.get("authorization")[0];
      const ctx: CallContext = {
        bearer: typeof auth === "string" ? bearerToken(auth) : undefined,
        header: (n) => {
          const v = call.metadata.get(n)[0];
          return typeof v === "string" ? v : undefined;
        },
        clientCertVerified: () => call.getAuthContext().sslPeerCertificate !== undefined,
      };
      handler(call.request, ctx).then(
        (res) => {
          observer.end(name, OK, start, ctx);
          callback(null, res);
        },
        (err: unknown) => {
          const mapped = mapError(err);
          observer.end(name, mapped.code, start, ctx, mapped.unexpected ? err : mapped.message);
          callback({ code: mapped.code as number as grpc.status, details: mapped.message });
        },
      );
    }) as grpc.handleUnaryCall<unknown, unknown>;
  }
  server.addService(definition as grpc.ServiceDefinition, implementation);
}
