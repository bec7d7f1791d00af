import { createHash, timingSafeEqual } from "node:crypto";
import { DomainError } from "../domain/errors.js";
import type { CallContext } from "../transport/protocol/unary-handlers.js";

/** Metadata/header carrying the shared Introspect caller credential. */
export const CALLER_TOKEN_HEADER = "x-warpflow-caller-token";

/**
 * Who may call Introspect. By default anyone who can reach the port (it reveals nothing without a
 * valid token). A deployment can require, each on its own or both:
 * - a client certificate verified against TLS_CLIENT_CA_FILE (INTROSPECT_REQUIRE_CLIENT_CERT);
 * - a shared caller credential in the x-warpflow-caller-token header (INTROSPECT_CALLER_TOKEN),
 *   compared in constant time.
 * Returns undefined when nothing is required, so the hot path pays nothing.
 */
export function createIntrospectCallerCheck(opts: {
  requireClientCert: boolean;
  callerToken?: string | undefined;
}): ((ctx: CallContext) => void) | undefined {
  if (!opts.requireClientCert && !opts.callerToken) return undefined;
  const digest = (s: string) => createHash("sha256").update(s).digest();
  const expected = opts.callerToken ? digest(opts.callerToken) : undefined;
  return (ctx) => {
    if (opts.requireClientCert && !ctx.clientCertVerified?.()) {
      throw new DomainError("unauthenticated", "Introspect requires a client certificate signed by the configured CA");
    }
    if (expected) {
      const presented = ctx.header?.(CALLER_TOKEN_HEADER);
      if (!presented || !timingSafeEqual(digest(presented), expected)) {
        throw new DomainError("unauthenticated", `Introspect requires the caller credential in ${CALLER_TOKEN_HEADER}`);
      }
    }
  };
}
