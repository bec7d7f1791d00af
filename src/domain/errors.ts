// Domain errors. Expected outcomes (an inactive token) are values, not errors; these are the
// failures a caller must see as a status code. The transport maps `code` to a gRPC code in one
// place (src/transport/protocol/error-mapping.ts).
export type DomainErrorCode =
  | "invalid_argument"
  | "unauthenticated"
  | "permission_denied"
  | "not_found"
  | "failed_precondition"
  | "resource_exhausted"
  | "aborted"
  | "unavailable"
  | "internal";

export class DomainError extends Error {
  constructor(
    readonly code: DomainErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "DomainError";
  }
}

export const invalidArgument = (field: string, message: string): DomainError =>
  new DomainError("invalid_argument", `${field}: ${message}`);

/** Thrown by store adapters when the store cannot answer (timeout, connection lost). */
export class StoreUnavailableError extends DomainError {
  constructor(message = "token store unavailable", options?: { cause?: unknown }) {
    super("unavailable", message, options);
    this.name = "StoreUnavailableError";
  }
}

/**
 * A tenant-wide session revoke that the store could not finish (outage, or its time budget spent):
 * `revokedCount` sessions were revoked by this call (at least; a batch in flight may also have
 * landed). The call answers UNAVAILABLE; a retry revokes the rest.
 */
export class PartialRevocationError extends StoreUnavailableError {
  constructor(
    readonly revokedCount: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "PartialRevocationError";
  }
}
