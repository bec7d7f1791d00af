/**
 * A CheckRequest as Envoy's HTTP ext_authz filter builds it (headers map mode) for `GET /orders/<i>`
 * with this API key: peer addresses, a dozen request headers, the route's tenant binding as a
 * context extension. Shared by the `check` bench case and bench/tools/check-path-micro.ts.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { CheckRequestSchema } from "../../src/gen/envoy/service/auth/v3/external_auth_pb.js";

export function checkRequestBytes(token: string, i: number): Uint8Array {
  const tenant = token.split("_")[1] ?? ""; // wf_<tenant>_<secret>
  const peer = (address: string, port: number) => ({
    address: {
      address: {
        case: "socketAddress" as const,
        value: { address, portSpecifier: { case: "portValue" as const, value: port } },
      },
    },
  });
  const req = create(CheckRequestSchema, {
    attributes: {
      source: peer(`10.1.${i % 250}.${(i * 7) % 250}`, 40000 + i),
      destination: peer("10.0.0.10", 8080),
      request: {
        time: timestampNow(),
        http: {
          id: `4f6c1c0e-9a1d-4a8e-8f4e-${String(i).padStart(12, "0")}`,
          method: "GET",
          headers: {
            ":authority": "api.example.com",
            ":method": "GET",
            ":path": `/orders/${i}`,
            ":scheme": "https",
            accept: "application/json",
            "accept-encoding": "gzip, br",
            authorization: `Bearer ${token}`,
            "user-agent": "bench-client/1.0",
            "x-forwarded-proto": "https",
            "x-request-id": `4f6c1c0e-9a1d-4a8e-8f4e-${String(i).padStart(12, "0")}`,
            "x-envoy-expected-rq-timeout-ms": "15000",
          },
          path: `/orders/${i}`,
          host: "api.example.com",
          scheme: "https",
          protocol: "HTTP/2",
          size: -1n,
        },
      },
      contextExtensions: { tenant_id: tenant },
    },
  });
  return toBinary(CheckRequestSchema, req);
}

export const checkRequestHex = (token: string, i: number): string =>
  Buffer.from(checkRequestBytes(token, i)).toString("hex");
