import { NonRetryableFetchError } from "aws-jwt-verify/error";
import { fetch as httpsFetch, type Fetcher } from "aws-jwt-verify/https";

/** Upper bound of one JWKS download (connect + response), in the network mode. */
export const JWKS_FETCH_TIMEOUT_MS = 2000;

export type FetchFn = Fetcher["fetch"];

/**
 * The network mode's fetcher: aws-jwt-verify's own HTTPS GET, bounded (socket idle and whole
 * response each at most `timeoutMs`), and without SimpleFetcher's immediate retry, so an Introspect
 * that meets an unknown kid waits at most one bounded download. aws-jwt-verify's penalty box then
 * allows one download per JWKS uri per 10 s; hydration retries with its own backoff.
 */
export function createBoundedFetcher(timeoutMs = JWKS_FETCH_TIMEOUT_MS, transport: FetchFn = httpsFetch): Fetcher {
  return {
    fetch: (uri, requestOptions, data) =>
      transport(uri, { ...requestOptions, timeout: timeoutMs, responseTimeout: timeoutMs }, data),
  };
}

/**
 * The COGNITO_JWKS_FILE mode's fetcher: refuses, always. The verifier never asks for it (it
 * checks the kid and uses verifySync), so this is the last line: no code path can reach the network.
 */
export function createRefusingFetcher(onRefuse: (uri: string) => void = () => {}): Fetcher {
  return {
    fetch: async (uri) => {
      onRefuse(uri);
      throw new NonRetryableFetchError(uri, "JWKS download disabled: keys come from COGNITO_JWKS_FILE");
    },
  };
}
