import { afterEach, describe, expect, it, vi } from "vitest";
import type { Fetcher } from "aws-jwt-verify/https";
import { createMemoryTokenStore } from "../../src/adapters/memory/memory-token-store.js";
import { createCognitoJwtVerifier } from "../../src/adapters/cognito/cognito-jwt-verifier.js";
import { createBoundedFetcher, JWKS_FETCH_TIMEOUT_MS } from "../../src/adapters/cognito/jwks-fetchers.js";
import { startMaintenance } from "../../src/app/maintenance.js";
import { createLogger } from "../../src/app/logger.js";
import type { CognitoConfig } from "../../src/config.js";
import { systemClock } from "../../src/ports/clock.js";
import type { JwtVerifier } from "../../src/ports/jwt-verifier.js";
import {
  blockNetwork,
  CLIENT_ID,
  cognitoClaims,
  createTestKey,
  jwksOf,
  POOL_ID,
  POOL_ID_2,
  signJwt,
} from "../support/jwt.js";
import { waitUntil as until } from "../support/poll.js";

/**
 * Without COGNITO_JWKS_FILE: the JWKS is downloaded at start (retried with backoff) and ready()
 * stays false until every pool has its keys. The download goes through an injected fetcher here,
 * and every test also blocks real HTTP(S), so nothing leaves the machine.
 */
const logger = createLogger("silent");
const fast = { initialMs: 5, maxMs: 20 };
const config = (pools = [POOL_ID]): CognitoConfig => ({
  userPoolIds: pools,
  clientIds: [CLIENT_ID],
  tokenUse: "access",
  tenantClaim: "custom:tenant_id",
  adminGroup: "tenant-admins",
});
const body = (doc: unknown) => new TextEncoder().encode(JSON.stringify(doc)).buffer as ArrayBuffer;
const jwksUriOf = (pool: string) =>
  `https://cognito-idp.${pool.split("_")[0]}.amazonaws.com/${pool}/.well-known/jwks.json`;

/** A fake JWKS endpoint: `serve(uri)` decides each answer; every call is recorded. */
function fakeFetcher(serve: (uri: string, n: number) => unknown): Fetcher & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    fetch: vi.fn(async (uri: string) => {
      calls.push(uri);
      const doc = serve(uri, calls.length);
      if (doc instanceof Error) throw doc;
      return body(doc);
    }),
  };
}

let network: ReturnType<typeof blockNetwork> | undefined;
afterEach(() => {
  network?.restore();
  network = undefined;
});

describe("Cognito verifier, JWKS downloaded at start", () => {
  it("is not ready until every pool's JWKS is loaded, retrying failures with backoff", async () => {
    network = blockNetwork();
    const k1 = createTestKey("k1");
    const k2 = createTestKey("k2");
    let pool2Failures = 0;
    const fetcher = fakeFetcher((uri) => {
      if (uri === jwksUriOf(POOL_ID)) return jwksOf(k1);
      if (uri === jwksUriOf(POOL_ID_2) && ++pool2Failures <= 3) return new Error("connect ETIMEDOUT");
      return jwksOf(k2);
    });
    const v = await createCognitoJwtVerifier(config([POOL_ID, POOL_ID_2]), logger, { fetcher, backoff: fast });
    expect(v.ready()).toBe(false);
    await until(() => v.ready());
    expect(fetcher.calls.filter((u) => u === jwksUriOf(POOL_ID))).toHaveLength(1); // a loaded pool is not fetched again
    expect(fetcher.calls.filter((u) => u === jwksUriOf(POOL_ID_2))).toHaveLength(4);
    expect((await v.verify(signJwt(k2, cognitoClaims({ tenantId: "acme", poolId: POOL_ID_2 })))).ok).toBe(true);
    expect(network.attempts()).toBe(0);
  });

  it("verifies from the cache once hydrated, and downloads again for a rotated key (new kid)", async () => {
    network = blockNetwork();
    const old = createTestKey("old");
    const rotated = createTestKey("rotated");
    let jwks = jwksOf(old);
    const fetcher = fakeFetcher(() => jwks);
    const v = await createCognitoJwtVerifier(config(), logger, { fetcher, backoff: fast });
    await until(() => v.ready());
    const n = fetcher.calls.length;
    expect((await v.verify(signJwt(old, cognitoClaims({ tenantId: "acme" })))).ok).toBe(true);
    expect(fetcher.calls).toHaveLength(n);
    jwks = jwksOf(old, rotated);
    expect((await v.verify(signJwt(rotated, cognitoClaims({ tenantId: "acme" })))).ok).toBe(true);
    expect(fetcher.calls).toHaveLength(n + 1);
    expect(network.attempts()).toBe(0);
  });

  it("a JWKS endpoint that fails is UNAVAILABLE (fail closed, retryable), not an inactive token", async () => {
    network = blockNetwork();
    const fetcher = fakeFetcher(() => new Error("socket hang up"));
    const v = await createCognitoJwtVerifier(config(), logger, {
      fetcher,
      backoff: { initialMs: 60_000, maxMs: 60_000 },
    });
    await expect(v.verify(signJwt(createTestKey(), cognitoClaims({ tenantId: "acme" })))).rejects.toMatchObject({
      code: "unavailable",
    });
    expect(v.ready()).toBe(false);
  });

  it("the network guard used by the file-mode tests does catch aws-jwt-verify's own HTTPS download", async () => {
    network = blockNetwork();
    const v = await createCognitoJwtVerifier(config(), logger, { backoff: { initialMs: 60_000, maxMs: 60_000 } });
    await expect(v.verify(signJwt(createTestKey(), cognitoClaims({ tenantId: "acme" })))).rejects.toMatchObject({
      code: "unavailable",
    });
    expect(network.attempts()).toBeGreaterThan(0);
    expect(v.ready()).toBe(false);
  });
});

describe("bounded JWKS download", () => {
  it("passes a socket and a response timeout and does not retry", async () => {
    const transport = vi.fn(async () => {
      throw new Error("timeout");
    });
    const f = createBoundedFetcher(1234, transport);
    await expect(f.fetch("https://x/jwks.json")).rejects.toThrow("timeout");
    expect(transport).toHaveBeenCalledTimes(1);
    expect(transport).toHaveBeenCalledWith("https://x/jwks.json", { timeout: 1234, responseTimeout: 1234 }, undefined);
    expect(JWKS_FETCH_TIMEOUT_MS).toBeLessThanOrEqual(3000);
  });
});

describe("health", () => {
  it("is NOT_SERVING while the JWT verifier has no keys, SERVING once it has", async () => {
    let keys = false;
    const jwt: JwtVerifier = { verify: async () => ({ ok: false, reason: "unverified" }), ready: () => keys };
    const serving: boolean[] = [];
    const m = startMaintenance({
      store: createMemoryTokenStore(),
      clock: systemClock,
      logger,
      jwt,
      server: { setServing: (s) => serving.push(s) },
      sweepIntervalMs: 60_000,
      checkIntervalMs: 10,
    });
    try {
      await until(() => serving.length > 0);
      expect(serving).toEqual([false]);
      keys = true;
      await m.ready;
      expect(serving).toEqual([false, true]);
    } finally {
      m.stop();
    }
  });
});
