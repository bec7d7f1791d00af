// The client's wire: one @grpc/grpc-js channel (h2c, TLS or mTLS) carrying Introspect calls and the
// WatchInvalidations stream, with protobuf-es codecs from the generated descriptors. grpc-js, not
// connect-node: measured in docs/client.md (caller CPU per call at 1 and 64 in flight).
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import {
  IntrospectRequestSchema,
  IntrospectResponseSchema,
  WatchInvalidationsRequestSchema,
  WatchInvalidationsResponseSchema,
  type IntrospectResponse,
  type WatchInvalidationsRequest,
  type WatchInvalidationsResponse,
} from "../gen/warpflow/auth/v1/token_service_pb.js";
import { fromGrpcError, TokenClientError } from "./errors.js";

export interface TlsOptions {
  /** PEM of the CA that signed the server's certificate (omit: the system's roots). */
  ca?: Buffer | string;
  /** mTLS: the client's certificate and key (PEM). */
  cert?: Buffer | string;
  key?: Buffer | string;
  /** Name to check the server's certificate against, when it differs from the address's host. */
  serverName?: string;
}

export interface ChannelOptions {
  /** host:port of the token service. */
  address: string;
  /** TLS (and mTLS); omit for h2c (plain HTTP/2). */
  tls?: TlsOptions;
  /** INTROSPECT_CALLER_TOKEN of the server, sent as x-warpflow-caller-token. */
  callerToken?: string;
  /** Per Introspect call. */
  deadlineMs: number;
}

export interface WatchHandlers {
  data(m: WatchInvalidationsResponse): void;
  /** The stream ended (any reason); called once. */
  end(err: TokenClientError | undefined): void;
}

export interface TokenChannel {
  /** `checks`: issue 22's required scopes and client address (validated by the caller). */
  introspect(
    token: string,
    expectedTenantId: string,
    checks?: { requiredScopes?: string[]; clientAddress?: string },
  ): Promise<IntrospectResponse>;
  watch(req: WatchInvalidationsRequest, handlers: WatchHandlers): { cancel(): void };
  /** A new connection for what follows (the old one went silent: a stuck proxy, a half-open socket). */
  renew?(): void;
  close(): void;
}

const buf = (v: Buffer | string | undefined) => (v === undefined ? null : Buffer.isBuffer(v) ? v : Buffer.from(v));

export function createTokenChannel(opts: ChannelOptions): TokenChannel {
  const creds = opts.tls
    ? grpc.credentials.createSsl(buf(opts.tls.ca), buf(opts.tls.key), buf(opts.tls.cert))
    : grpc.credentials.createInsecure();
  const channelOptions: grpc.ChannelOptions = {
    "grpc.keepalive_time_ms": 10_000,
    "grpc.keepalive_timeout_ms": 5_000,
    // A connection of its own (not grpc-js's process-wide pool), so renew() really opens a new one.
    "grpc.use_local_subchannel_pool": 1,
    ...(opts.tls?.serverName ? { "grpc.ssl_target_name_override": opts.tls.serverName } : {}),
  };
  // grpc-js refuses a header value it cannot carry (a newline read with the secret from a file,
  // say) with an error that quotes the value: checked here once, with a message that names none.
  if (opts.callerToken) {
    try {
      new grpc.Metadata().set("x-warpflow-caller-token", opts.callerToken);
    } catch {
      throw new TokenClientError("invalid_argument", "callerToken: has characters a header value cannot carry");
    }
  }
  let client = new grpc.Client(opts.address, creds, channelOptions);
  const metadata = () => {
    const md = new grpc.Metadata();
    if (opts.callerToken) md.set("x-warpflow-caller-token", opts.callerToken);
    return md;
  };
  const encodeIntrospect = (r: {
    token: string;
    expectedTenantId: string;
    requiredScopes: string[];
    clientAddress: string;
  }) => Buffer.from(toBinary(IntrospectRequestSchema, { $typeName: "warpflow.auth.v1.IntrospectRequest", ...r }));
  const decodeIntrospect = (b: Buffer) => fromBinary(IntrospectResponseSchema, b);

  return {
    introspect(token, expectedTenantId, checks = {}) {
      return new Promise((resolve, reject) => {
        client.makeUnaryRequest(
          "/warpflow.auth.v1.TokenService/Introspect",
          encodeIntrospect,
          decodeIntrospect,
          {
            token,
            expectedTenantId,
            requiredScopes: checks.requiredScopes ?? [],
            clientAddress: checks.clientAddress ?? "",
          },
          metadata(),
          { deadline: Date.now() + opts.deadlineMs },
          (err, res) => (err || !res ? reject(fromGrpcError(err ?? {})) : resolve(res)),
        );
      });
    },
    watch(req, handlers) {
      const call = client.makeServerStreamRequest(
        "/warpflow.auth.v1.TokenService/WatchInvalidations",
        (m: WatchInvalidationsRequest) => Buffer.from(toBinary(WatchInvalidationsRequestSchema, m)),
        (b: Buffer) => fromBinary(WatchInvalidationsResponseSchema, b),
        req,
        metadata(),
        {},
      );
      let ended = false;
      const end = (err: TokenClientError | undefined) => {
        if (ended) return;
        ended = true;
        handlers.end(err);
      };
      call.on("data", (m: WatchInvalidationsResponse) => {
        if (!ended) handlers.data(m);
      });
      call.on("error", (e: grpc.ServiceError) => end(fromGrpcError(e)));
      call.on("end", () => end(undefined));
      return {
        cancel() {
          end(undefined);
          call.cancel();
        },
      };
    },
    renew() {
      const old = client;
      client = new grpc.Client(opts.address, creds, channelOptions);
      old.close();
    },
    close: () => client.close(),
  };
}
