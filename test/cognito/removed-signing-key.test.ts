import type { Fetcher } from "aws-jwt-verify/https";
import { describe, expect, it } from "vitest";
import {
  createCognitoJwtVerifier,
  type CognitoVerifierOptions,
} from "../../src/adapters/cognito/cognito-jwt-verifier.js";
import { createLogger } from "../../src/app/logger.js";
import type { CognitoConfig } from "../../src/config.js";
import { CLIENT_ID, cognitoClaims, createTestKey, jwksOf, POOL_ID, signJwt, type TestKey } from "../support/jwt.js";
import { pollUntil, waitUntil } from "../support/poll.js";

/**
 * A signing key that leaves the pool's JWKS (rotated out, or withdrawn after a compromise) must stop
 * verifying within a bound. aws-jwt-verify keeps a downloaded JWKS until a token with a kid it does
 * not know makes it download again, so without a refresh of its own the service trusted a removed
 * key for as long as no token signed with a new one came by: for good, if none did. The service
 * downloads every pool's JWKS again on a timer (network mode); the refresh interval is injected here.
 */
const config: CognitoConfig = {
  userPoolIds: [POOL_ID],
  clientIds: [CLIENT_ID],
  tokenUse: "access",
  tenantClaim: "custom:tenant_id",
  adminGroup: "tenant-admins",
};
const body = (doc: unknown) => new TextEncoder().encode(JSON.stringify(doc)).buffer as ArrayBuffer;

describe("a signing key removed from the JWKS stops verifying", () => {
  it("within the refresh interval, with no token of a new kid needed to notice", async () => {
    const old: TestKey = createTestKey("kid-old");
    const next: TestKey = createTestKey("kid-next");
    let served = [old, next];
    let downloads = 0;
    const fetcher: Fetcher = {
      fetch: async () => {
        downloads++;
        return body(jwksOf(...served));
      },
    };
    const options: CognitoVerifierOptions = { fetcher, backoff: { initialMs: 5, maxMs: 20 }, refreshMs: 50 };
    const v = await createCognitoJwtVerifier(config, createLogger("silent"), options);
    await waitUntil(() => v.ready(), 5000, "JWKS loaded");
    const token = (k: TestKey, sub: string) => signJwt(k, cognitoClaims({ tenantId: "acme", sub }));
    expect((await v.verify(token(old, "user-before"))).ok).toBe(true);

    served = [next]; // the old key withdrawn
    const seen = downloads;
    await pollUntil(() => downloads >= seen + 2, 1000); // was: never downloaded again
    // Was: { ok: true } (the removed key trusted until a token with a new kid came by).
    expect(await v.verify(token(old, "user-after"))).toEqual({ ok: false, reason: "unverified" });
    expect((await v.verify(token(next, "user-next"))).ok).toBe(true);

    // A refresh that fails keeps the keys it has (a Cognito outage does not log every user out).
    fetcher.fetch = async () => {
      downloads++;
      throw new Error("JWKS endpoint down");
    };
    const failedFrom = downloads;
    await waitUntil(() => downloads >= failedFrom + 2, 5000, "refreshes attempted while the endpoint is down");
    expect((await v.verify(token(next, "user-next-2"))).ok).toBe(true);

    // Closed (the app's close): no download after.
    v.close?.();
    await new Promise((r) => setTimeout(r, 60)); // a download already out may still count
    const atClose = downloads;
    await new Promise((r) => setTimeout(r, 200));
    expect(downloads).toBe(atClose);
  });
});

describe("the verifier's close", () => {
  it("stops the start-up download's retries too (a pool whose JWKS never loaded is not fetched after close)", async () => {
    let downloads = 0;
    const fetcher: Fetcher = {
      fetch: async () => {
        downloads++;
        throw new Error("JWKS endpoint down");
      },
    };
    const options: CognitoVerifierOptions = { fetcher, backoff: { initialMs: 5, maxMs: 20 }, refreshMs: 50 };
    const v = await createCognitoJwtVerifier(config, createLogger("silent"), options);
    await waitUntil(() => downloads >= 2, 5000, "start-up downloads retried while the endpoint is down");
    expect(v.ready()).toBe(false);
    v.close?.();
    await new Promise((r) => setTimeout(r, 60)); // a download already out may still count
    const atClose = downloads;
    await new Promise((r) => setTimeout(r, 200));
    expect(downloads).toBe(atClose); // was: retried every 20 ms after the app's close, for good
  });
});
