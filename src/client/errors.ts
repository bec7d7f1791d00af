// The client's one error type. Expected outcomes (an inactive token) are values; a TokenClientError
// means the question could not be answered: the caller must fail closed (deny, or answer 503).
import { status } from "@grpc/grpc-js";

export type TokenClientErrorCode =
  | "unavailable"
  | "deadline_exceeded"
  | "invalid_argument"
  | "unauthenticated"
  | "permission_denied"
  | "resource_exhausted"
  | "internal";

export class TokenClientError extends Error {
  override readonly name = "TokenClientError";
  constructor(
    readonly code: TokenClientErrorCode,
    message: string,
    /** The gRPC status code, when the error came from a call. */
    readonly grpcCode?: number,
  ) {
    super(message);
  }
}

const CODES: Partial<Record<number, TokenClientErrorCode>> = {
  [status.UNAVAILABLE]: "unavailable",
  [status.DEADLINE_EXCEEDED]: "deadline_exceeded",
  [status.INVALID_ARGUMENT]: "invalid_argument",
  [status.UNAUTHENTICATED]: "unauthenticated",
  [status.PERMISSION_DENIED]: "permission_denied",
  [status.RESOURCE_EXHAUSTED]: "resource_exhausted",
  [status.CANCELLED]: "unavailable",
};

/** A grpc-js call error as a TokenClientError (the server's details are fixed text, never a token). */
export function fromGrpcError(err: { code?: number; details?: string }): TokenClientError {
  const code = (err.code !== undefined && CODES[err.code]) || "internal";
  return new TokenClientError(code, `introspect failed: ${err.details || code}`, err.code);
}

/** Server unreachable (the ride-through may apply): UNAVAILABLE or a deadline, not a refusal. */
export const isUnreachable = (e: TokenClientError): boolean =>
  e.code === "unavailable" || e.code === "deadline_exceeded";
