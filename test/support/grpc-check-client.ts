import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import {
  CheckRequestSchema,
  CheckResponseSchema,
  type CheckResponse,
} from "../../src/gen/envoy/service/auth/v3/external_auth_pb.js";

const CHECK = "/envoy.service.auth.v3.Authorization/Check";

/** A Check call's outcome as Envoy's ext_authz filter sees it: a CheckResponse, or a gRPC error. */
export type CheckOutcome = { ok: true; response: CheckResponse } | { ok: false; code: grpc.status; details: string };

/**
 * A plain @grpc/grpc-js client for Envoy's Authorization/Check (what Envoy's Google gRPC client
 * sends on the wire). A non-OK gRPC status is an outcome, not a rejection: with
 * `failure_mode_allow: true`, Envoy lets the request through on one.
 */
export function createGrpcCheckClient(address: string): {
  check(req: MessageInitShape<typeof CheckRequestSchema>): Promise<CheckOutcome>;
  close(): void;
} {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  return {
    check: (req) =>
      new Promise((resolve) => {
        client.makeUnaryRequest(
          CHECK,
          (m: MessageInitShape<typeof CheckRequestSchema>) =>
            Buffer.from(toBinary(CheckRequestSchema, create(CheckRequestSchema, m))),
          (b: Buffer) => fromBinary(CheckResponseSchema, b),
          req,
          new grpc.Metadata(),
          { deadline: Date.now() + 10_000 },
          (err, res) =>
            resolve(err ? { ok: false, code: err.code, details: err.details } : { ok: true, response: res! }),
        );
      }),
    close: () => client.close(),
  };
}

/** A CheckRequest carrying these HTTP headers (and optionally context extensions and the client's address). */
export const checkRequest = (
  headers: Record<string, string>,
  contextExtensions: Record<string, string> = {},
  sourceAddress?: string,
): MessageInitShape<typeof CheckRequestSchema> => ({
  attributes: {
    request: { http: { method: "GET", path: "/", headers } },
    contextExtensions,
    ...(sourceAddress !== undefined && {
      source: { address: { address: { case: "socketAddress", value: { address: sourceAddress } } } },
    }),
  },
});
