// The one mapping from failures to status codes. Connect's Code values are the gRPC status codes,
// so the gRPC, Connect and REST transports all use this. Unknown errors become INTERNAL with a
// generic message: their text may carry driver details and is only logged.
import { Code, ConnectError } from "@connectrpc/connect";
import { DomainError, type DomainErrorCode } from "../../domain/errors.js";

const CODES: Readonly<Record<DomainErrorCode, Code>> = {
  invalid_argument: Code.InvalidArgument,
  unauthenticated: Code.Unauthenticated,
  permission_denied: Code.PermissionDenied,
  not_found: Code.NotFound,
  failed_precondition: Code.FailedPrecondition,
  resource_exhausted: Code.ResourceExhausted,
  aborted: Code.Aborted,
  unavailable: Code.Unavailable,
  internal: Code.Internal,
};

/** gRPC OK; Connect's Code enum has no member for success. */
export const OK = 0 as Code;

export interface MappedError {
  code: Code;
  message: string;
  /** True when the error was not a DomainError (a bug or an unexpected failure): log it. */
  unexpected: boolean;
}

export function mapError(err: unknown): MappedError {
  if (err instanceof DomainError) {
    const message = err.code === "unavailable" ? "token store unavailable, retry" : err.message;
    return { code: CODES[err.code], message, unexpected: false };
  }
  if (err instanceof ConnectError) return { code: err.code, message: err.rawMessage, unexpected: false };
  return { code: Code.Internal, message: "internal error", unexpected: true };
}

/** HTTP status for a code, as the Connect protocol maps them (used by the REST endpoint). */
export function httpStatusOf(code: Code): number {
  switch (code) {
    case Code.InvalidArgument:
    case Code.FailedPrecondition:
    case Code.OutOfRange:
      return 400;
    case Code.Unauthenticated:
      return 401;
    case Code.PermissionDenied:
      return 403;
    case Code.NotFound:
      return 404;
    case Code.AlreadyExists:
    case Code.Aborted:
      return 409;
    case Code.ResourceExhausted:
      return 429;
    case Code.Unimplemented:
      return 501;
    case Code.Unavailable:
      return 503;
    case Code.DeadlineExceeded:
      return 504;
    case Code.Canceled:
    case Code.Unknown:
    case Code.Internal:
    case Code.DataLoss:
      return 500;
  }
}

/** Connect code name in snake_case, e.g. "invalid_argument". */
export function codeName(code: Code): string {
  const name = Code[code] as string | undefined;
  if (name === undefined) return (code as number) === 0 ? "ok" : `code_${code}`;
  return name.replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase();
}
