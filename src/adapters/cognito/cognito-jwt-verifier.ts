import { CognitoJwtVerifier } from "aws-jwt-verify";
import type { Fetcher } from "aws-jwt-verify/https";
import { SimpleJwksCache } from "aws-jwt-verify/jwk";
import type { Logger } from "pino";
import type { CognitoConfig } from "../../config.js";
import type { JwtVerification, JwtVerifier } from "../../ports/jwt-verifier.js";
import { claimShapesOk, claimsFrom } from "./cognito-claims.js";
import { systemClock, type Clock } from "../../ports/clock.js";
import { createJwksDownloadLimiter } from "./jwks-download-limiter.js";
import { createBoundedFetcher, createRefusingFetcher } from "./jwks-fetchers.js";
import { loadJwksFile } from "./jwks-file.js";
import { startHydration, type Backoff } from "./jwks-hydration.js";
import { startJwksRefresh } from "./jwks-refresh.js";
import { checkJwtHeader } from "./jwt-header.js";
import { isInfrastructureFailure, reasonOf } from "./verify-outcome.js";
import { DomainError } from "../../domain/errors.js";

export interface CognitoVerifierOptions {
  /** Network mode only: how the JWKS is downloaded (default: bounded HTTPS GET, see jwks-fetchers). */
  fetcher?: Fetcher;
  /** Network mode only: retry schedule of the start-up download. */
  backoff?: Backoff;
  /** Network mode only: the clock of the 1-download-per-10-s limit (jwks-download-limiter). */
  clock?: Clock;
  /** Network mode only: how often every pool's JWKS is downloaded again (default JWKS_REFRESH_MS). */
  refreshMs?: number;
}

/**
 * Cognito JWTs, verified by aws-jwt-verify's CognitoJwtVerifier (one entry per user pool):
 * signature, issuer, exp/nbf, token_use and client id; then the tenant claim (see cognito-claims).
 *
 * Keys come from one of two places:
 * - COGNITO_JWKS_FILE: loaded and cached with cacheJwks at start; the network is never used. A
 *   token whose kid is not in the file is "unverified" before aws-jwt-verify sees it (the library
 *   would otherwise download the JWKS), verification is verifySync (cache only), and the JWKS cache's
 *   fetcher refuses: three locks on one door.
 * - otherwise: each pool's JWKS is downloaded at start (retried with backoff in the background;
 *   ready() is false until every pool has its keys). Afterwards a token with an unknown kid makes
 *   aws-jwt-verify download the JWKS again (Cognito key rotation), bounded by the fetch timeout
 *   and by one download per 10 s after a failed download or one that lacked the kid
 *   (jwks-download-limiter). Every pool's JWKS is also downloaded again every 10 minutes
 *   (jwks-refresh), so a key Cognito withdrew stops verifying without waiting for a new kid.
 * Expected failures are values; verify() never throws for a token.
 */
export async function createCognitoJwtVerifier(
  config: CognitoConfig,
  logger: Logger,
  options: CognitoVerifierOptions = {},
): Promise<JwtVerifier> {
  const { userPoolIds, clientIds, tokenUse, tenantClaim, jwksFile } = config;
  const fileJwks = jwksFile ? loadJwksFile(jwksFile, userPoolIds) : undefined;
  const jwksCache = fileJwks
    ? new SimpleJwksCache({
        fetcher: createRefusingFetcher((uri) =>
          logger.error({ uri }, "refused a JWKS download: keys come from COGNITO_JWKS_FILE"),
        ),
      })
    : new SimpleJwksCache(
        createJwksDownloadLimiter(options.fetcher ?? createBoundedFetcher(), options.clock ?? systemClock),
      );
  // Multi-pool form: every pool accepts the same client ids and token_use (COGNITO_CLIENT_ID lists
  // them all; a client id is unique to its pool in Cognito, so this is no wider than per-pool lists).
  const verifier = CognitoJwtVerifier.create(
    userPoolIds.map((userPoolId) => ({ userPoolId, tokenUse, clientId: clientIds })),
    { jwksCache },
  );

  let ready: () => boolean;
  /** The timers close() stops: the start-up download's retries and the periodic refresh. */
  let timers: { stop(): void }[] = [];
  let knownKids: ReadonlySet<string> | undefined;
  if (fileJwks) {
    for (const [pool, jwks] of fileJwks) verifier.cacheJwks(jwks, pool);
    knownKids = new Set([...fileJwks.values()].flatMap((jwks) => jwks.keys.map((k) => k.kid as string)));
    ready = () => true;
    logger.info(
      { file: jwksFile, pools: userPoolIds, kids: [...knownKids] },
      "Cognito JWKS loaded from COGNITO_JWKS_FILE (no network)",
    );
  } else {
    // Download the pool's region-format JWKS uri, then cacheJwks stores it under both issuer
    // formats aws-jwt-verify accepts (regional and multi-region "issuer-cognito-idp"), replacing
    // what was cached: a key no longer in the JWKS no longer verifies.
    const hydrate = async (pool: string) =>
      verifier.cacheJwks(await jwksCache.getJwks(CognitoJwtVerifier.parseUserPoolId(pool).jwksUri), pool);
    const hydration = startHydration({ pools: userPoolIds, logger, backoff: options.backoff, hydrate });
    const refresh = startJwksRefresh({
      pools: userPoolIds,
      refresh: hydrate,
      logger,
      everyMs: options.refreshMs,
      after: hydration.done,
    });
    timers = [hydration, refresh];
    ready = hydration.loaded;
  }

  return {
    ready: () => ready(),
    close: () => {
      for (const t of timers) t.stop();
    },
    async verify(token: string): Promise<JwtVerification> {
      const header = checkJwtHeader(token);
      if (!header.ok) return { ok: false, reason: header.reason };
      if (knownKids && !knownKids.has(header.kid)) return { ok: false, reason: "unverified" };
      // Claims of the wrong type or out of range: unverified before any signature work (and
      // before aws-jwt-verify, which reports some of them as a parse error or fails on them).
      if (!claimShapesOk(header.payload, tenantClaim)) return { ok: false, reason: "unverified" };
      try {
        const payload = knownKids ? verifier.verifySync(token) : await verifier.verify(token);
        return claimsFrom(payload, tenantClaim);
      } catch (err) {
        if (isInfrastructureFailure(err)) {
          // The keys could not be fetched (or the verifier failed in a way no token explains):
          // that says nothing about the token. Fail closed as UNAVAILABLE (the caller retries),
          // not as an inactive answer that would log a valid user out.
          logger.warn({ err: (err as Error).message, name: (err as Error).name }, "Cognito JWT could not be verified");
          throw new DomainError("unavailable", "Cognito signing keys unavailable", { cause: err });
        }
        return { ok: false, reason: reasonOf(err) };
      }
    },
  };
}
