// aws-jwt-verify's exceptions -> the port's reasons. Every failure of a token is a value:
// - JwtExpiredError                      -> "expired"
// - JwtParseError (not a parsable JWT)   -> "malformed"
// - everything else: bad signature, issuer (incl. "issuer not configured"), client id, token_use,
//   algorithm, nbf, unknown kid -> "unverified"
//   (fail closed: nothing that went wrong can make a token valid).
// An infrastructure failure (isInfrastructureFailure: the JWKS could not be downloaded, or an error
// no token explains) is not about the token: the verifier turns it into UNAVAILABLE instead.
import { FetchError, JwtBaseError, JwtExpiredError, JwtParseError } from "aws-jwt-verify/error";

export type RejectReason = "expired" | "malformed" | "unverified";

export function reasonOf(err: unknown): RejectReason {
  if (err instanceof JwtExpiredError) return "expired";
  if (err instanceof JwtParseError) return "malformed";
  return "unverified";
}

/** Worth a log line: the verifier could not reach its keys, or failed in a way no token explains. */
export function isInfrastructureFailure(err: unknown): boolean {
  return err instanceof FetchError || !(err instanceof JwtBaseError);
}
