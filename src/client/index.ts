// @warpflow/token-service/client: Introspect from any Node service, cached in process and kept
// right by the server's WatchInvalidations stream. Usage and guarantees: docs/client.md.
export { createTokenClient, type TokenClient, type TokenClientOptions, type TokenClientState } from "./token-client.js";
export type { AuthRefusal, AuthResult, AuthSuccess, IntrospectOptions } from "./authenticate.js";
export { TokenClientError, type TokenClientErrorCode } from "./errors.js";
export type { TlsOptions } from "./grpc-channel.js";
export {
  InactiveReason,
  TokenType,
  type IntrospectResponse,
} from "../gen/warpflow/auth/v1/token_service_pb.js";
