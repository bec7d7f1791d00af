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

/** A gRPC call that must fail: its status name and details (a call that succeeds throws). */
export const failureOf = (p: Promise<unknown>): Promise<{ code: string; details: string }> =>
  p.then(
    () => {
      throw new Error("expected the call to fail");
    },
    (e: unknown) => ({ code: grpcCodeName(e), details: String((e as { details?: string }).details) }),
  );

export const domainCodeOf = (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => "ok",
    (e: unknown) => (e instanceof DomainError ? e.code : `thrown: ${String(e)}`),
  );
