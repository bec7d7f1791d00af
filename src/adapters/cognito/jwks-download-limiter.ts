import { FetchError, WaitPeriodNotYetEndedJwkError } from "aws-jwt-verify/error";
import type { Fetcher } from "aws-jwt-verify/https";
import type { PenaltyBox } from "aws-jwt-verify/jwk";
import type { Clock } from "../../ports/clock.js";

/** After a JWKS download that failed, or that lacked the kid it was made for: no other for this long. */
export const JWKS_DOWNLOAD_INTERVAL_MS = 10_000;

/**
 * At most one JWKS download per pool (JWKS uri) per 10 s after a download that failed or did not
 * contain the requested kid, on the service's clock. aws-jwt-verify's own SimplePenaltyBox only
 * counts the second case: a JWKS endpoint that stalls or fails was asked again by the next token
 * with an unknown kid (one bounded download after another, each up to 2 s). Here both count:
 * - the wrapped fetcher records every failed download;
 * - the penalty box records a download that lacked the kid, and refuses while either is recent:
 *   after a failure with a FetchError (the verifier answers UNAVAILABLE: the keys could not be
 *   had), after a kid miss with WaitPeriodNotYetEndedJwkError (the token is UNVERIFIED).
 * A download that found its kid clears the penalty (Cognito rotated its keys: nothing to hold back).
 * Concurrent verifications join the download in flight (SimpleJwksCache does that).
 */
export function createJwksDownloadLimiter(
  inner: Fetcher,
  clock: Clock,
  intervalMs = JWKS_DOWNLOAD_INTERVAL_MS,
): { fetcher: Fetcher; penaltyBox: PenaltyBox } {
  const penalties = new Map<string, { at: number; failed: boolean }>();
  const penalize = (uri: string, failed: boolean) => penalties.set(uri, { at: clock.now().getTime(), failed });
  return {
    fetcher: {
      fetch: async (uri, requestOptions, data) => {
        try {
          return await inner.fetch(uri, requestOptions, data);
        } catch (err) {
          penalize(uri, true);
          throw err;
        }
      },
    },
    penaltyBox: {
      async wait(uri) {
        const p = penalties.get(uri);
        if (!p) return;
        const left = p.at + intervalMs - clock.now().getTime();
        if (left <= 0) return;
        if (p.failed) throw new FetchError(uri, `the last JWKS download failed; next attempt allowed in ${left} ms`);
        throw new WaitPeriodNotYetEndedJwkError(
          `the last JWKS download lacked the requested kid; next attempt allowed in ${left} ms`,
        );
      },
      registerFailedAttempt: (uri) => penalize(uri, false),
      registerSuccessfulAttempt: (uri) => penalties.delete(uri),
    },
  };
}
