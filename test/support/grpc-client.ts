import {
  create,
  fromBinary,
  toBinary,
  type DescMessage,
  type DescService,
  type MessageInitShape,
  type MessageShape,
} from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { TokenService } from "../../src/gen/warpflow/auth/v1/token_service_pb.js";

/**
 * A plain @grpc/grpc-js client for TokenService, derived from the generated descriptor: what an
 * internal service written against grpc-js sends on the wire. Rejects with the grpc-js
 * ServiceError (code, details) on a non-OK status.
 */
type Methods = (typeof TokenService)["method"];
export type GrpcTokenClient = {
  [K in keyof Methods]: (
    req: MessageInitShape<Methods[K]["input"]>,
    options?: { bearer?: string; metadata?: Record<string, string>; deadlineMs?: number },
  ) => Promise<MessageShape<Methods[K]["output"]>>;
} & { close(): void; raw: grpc.Client };

export function createGrpcTokenClient(
  address: string,
  credentials = grpc.credentials.createInsecure(),
  channelOptions: grpc.ChannelOptions = {},
): GrpcTokenClient {
  const client = new grpc.Client(address, credentials, channelOptions);
  const out: Record<string, unknown> = { close: () => client.close(), raw: client };
  const service: DescService = TokenService;
  for (const method of service.methods) {
    const input = method.input as DescMessage;
    const output = method.output as DescMessage;
    out[method.localName] = (
      req: object,
      options: { bearer?: string; metadata?: Record<string, string>; deadlineMs?: number } = {},
    ) =>
      new Promise((resolve, reject) => {
        const md = new grpc.Metadata();
        if (options.bearer !== undefined) md.set("authorization", `Bearer ${options.bearer}`);
        for (const [k, v] of Object.entries(options.metadata ?? {})) md.set(k, v);
        client.makeUnaryRequest(
          `/${service.typeName}/${method.name}`,
          (m: object) => Buffer.from(toBinary(input, create(input, m as never))),
          (b: Buffer) => fromBinary(output, b),
          req,
          md,
          { deadline: Date.now() + (options.deadlineMs ?? 10_000) },
          (err, res) => (err ? reject(err) : resolve(res)),
        );
      });
  }
  return out as GrpcTokenClient;
}
