import { status } from "@grpc/grpc-js";
import { DomainError } from "../../src/domain/errors.js";

/**
 * How a call ended, as a name to compare: the one copy for tests that assert outcomes.
 * `codeOf`: a gRPC call, "OK" or the status name ("NOT_FOUND", ...); `grpcCodeName` names a caught error.
 * `domainCodeOf`: a domain call, "ok" or the DomainError code.
 */
export function grpcCodeName(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === "number" ? (status[code] ?? `code ${code}`) : String(e);
}

export const codeOf = (p: Promise<unknown>): Promise<string> => p.then(() => "OK", grpcCodeName);

export const domainCodeOf = (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => "ok",
    (e: unknown) => (e instanceof DomainError ? e.code : `thrown: ${String(e)}`),
  );
