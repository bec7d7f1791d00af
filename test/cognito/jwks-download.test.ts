import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { FetchError } from "aws-jwt-verify/error";
import { fetch as httpsFetch, type Fetcher } from "aws-jwt-verify/https";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { createCognitoJwtVerifier } from "../../src/adapters/cognito/cognito-jwt-verifier.js";
import { JWKS_DOWNLOAD_INTERVAL_MS } from "../../src/adapters/cognito/jwks-download-limiter.js";
import { createBoundedFetcher, JWKS_FETCH_TIMEOUT_MS } from "../../src/adapters/cognito/jwks-fetchers.js";
import { createLogger } from "../../src/app/logger.js";
import type { CognitoConfig } from "../../src/config.js";
import { createTestPki, hasOpenssl, type TestPki } from "../support/certs.js";
import { CLIENT_ID, cognitoClaims, createTestKey, jwksOf, POOL_ID, signJwt, type TestKey } from "../support/jwt.js";
import { createManualClock } from "../support/manual-clock.js";
import { turnsUntil as until } from "../support/poll.js";

/**
 * The JWKS download bounds of docs/cognito.md ("at most 2 s, no retry, at most one per pool per
 * 10 s"), against a real local HTTPS server that stalls or serves, reached by aws-jwt-verify's own
 * HTTPS fetch (the production transport) wrapped by the service's bounded fetcher; only the URL is
 * redirected from cognito-idp.<region>.amazonaws.com to 127.0.0.1. Time is injected: fake timers for
 * the 2 s response timeout, a manual clock for the 10 s limit; nothing waits for real.
 */
const openssl = hasOpenssl();
if (!openssl)
  console.log("JWKS download tests SKIPPED: the openssl CLI is needed to make the test server's certificate.");

type Mode = "stall" | "stall-body" | "serve";
let pki: TestPki;
let server: Server;
let mode: Mode = "stall";
let served: TestKey[] = [];
let requests = 0;
const open = new Set<import("node:net").Socket>();

beforeAll(async () => {
  if (!openssl) return;
  pki = createTestPki();
  server = createServer(
    { key: readFileSync(pki.serverKeyFile), cert: readFileSync(pki.serverCertFile) },
    (req, res) => {
      requests++;
      if (mode === "serve") {
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(jwksOf(...served)));
      } else if (mode === "stall-body") {
        res.writeHead(200, { "content-type": "application/json" });
        res.write('{"keys": ['); // and nothing more
      } // "stall": read the request, never answer
    },
  );
  server.on("secureConnection", (s) => {
    open.add(s);
    s.on("close", () => open.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
});
afterAll(async () => {
  if (!openssl) return;
  for (const s of open) s.destroy();
  await new Promise((r) => server.close(r));
});
afterEach(() => {
  vi.useRealTimers();
  for (const s of open) s.destroy();
});

/** aws-jwt-verify's HTTPS fetch to the local server, with the test CA trusted. */
const localTransport = (): Fetcher["fetch"] => (_uri, options, data) =>
  httpsFetch(
    `https://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`,
    { ...options, ca: pki.ca },
    data,
  );
const settled = <T>(p: Promise<T>) => {
  const s: { done: boolean; error?: unknown } = { done: false };
  p.then(
    () => (s.done = true),
    (e: unknown) => Object.assign(s, { done: true, error: e }),
  );
  return s;
};

describe.skipIf(!openssl)("one JWKS download: at most JWKS_FETCH_TIMEOUT_MS (2 s), no retry", () => {
  it.each(["stall", "stall-body"] as const)(
    "server %s: the download fails at 2 s of (fake) time, after exactly one request",
    async (m) => {
      mode = m;
      requests = 0;
      vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
      expect(JWKS_FETCH_TIMEOUT_MS).toBe(2000);
      const fetcher = createBoundedFetcher(JWKS_FETCH_TIMEOUT_MS, localTransport());
      const s = settled(fetcher.fetch(`https://cognito-idp.us-east-1.amazonaws.com/${POOL_ID}/.well-known/jwks.json`));
      await until(() => requests === 1); // the request reached the server, which now stalls
      await vi.advanceTimersByTimeAsync(JWKS_FETCH_TIMEOUT_MS - 1);
      expect(s.done).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      await until(() => s.done);
      expect(s.error).toBeInstanceOf(FetchError);
      expect((s.error as Error).message).toMatch(/Response time-out \(after 2000 ms\.\)/);
      await vi.advanceTimersByTimeAsync(60_000);
      expect(requests).toBe(1); // no retry
    },
  );
});

describe.skipIf(!openssl)(
  "downloads on demand (unknown kid): at most one per pool per 10 s after a failed or useless download",
  () => {
    const config: CognitoConfig = {
      userPoolIds: [POOL_ID],
      clientIds: [CLIENT_ID],
      tokenUse: "access",
      tenantClaim: "custom:tenant_id",
      adminGroup: "tenant-admins",
    };
    const logger = createLogger("silent");
    const noRetry = { initialMs: 3_600_000, maxMs: 3_600_000 };

    it("a stalling JWKS endpoint: one 2 s download, then UNAVAILABLE without any request until 10 s have passed", async () => {
      mode = "stall";
      requests = 0;
      vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
      const clock = createManualClock(new Date());
      const fetcher = createBoundedFetcher(JWKS_FETCH_TIMEOUT_MS, localTransport());
      const v = await createCognitoJwtVerifier(config, logger, { fetcher, backoff: noRetry, clock });
      await until(() => requests === 1); // the start-up download, stalled
      await vi.advanceTimersByTimeAsync(JWKS_FETCH_TIMEOUT_MS); // ...fails at 2 s
      const token = signJwt(createTestKey("k-new"), cognitoClaims({ tenantId: "acme" }));
      // Within 10 s of that failure: no download, fail closed at once.
      for (let i = 0; i < 20; i++) await expect(v.verify(token)).rejects.toMatchObject({ code: "unavailable" });
      clock.advance(JWKS_DOWNLOAD_INTERVAL_MS - 1);
      await expect(v.verify(token)).rejects.toMatchObject({ code: "unavailable" });
      expect(requests).toBe(1);
      // 10 s on: one new download; concurrent verifications join it.
      clock.advance(1);
      const pending = Array.from({ length: 5 }, () => settled(v.verify(token)));
      await until(() => requests === 2);
      await vi.advanceTimersByTimeAsync(JWKS_FETCH_TIMEOUT_MS);
      await until(() => pending.every((p) => p.done));
      for (const p of pending) expect(p.error).toMatchObject({ code: "unavailable" });
      expect(requests).toBe(2);
      expect(v.ready()).toBe(false);
    });

    it("a JWKS without the token's kid: UNVERIFIED, one download per 10 s; a rotation that brings the kid is picked up", async () => {
      mode = "serve";
      requests = 0;
      const k1 = createTestKey("k1");
      const k2 = createTestKey("k2");
      served = [k1];
      const clock = createManualClock(new Date());
      const v = await createCognitoJwtVerifier(config, logger, {
        fetcher: createBoundedFetcher(JWKS_FETCH_TIMEOUT_MS, localTransport()),
        backoff: noRetry,
        clock,
      });
      await until(() => v.ready());
      expect(requests).toBe(1);
      expect((await v.verify(signJwt(k1, cognitoClaims({ tenantId: "acme" })))).ok).toBe(true);
      const forged = signJwt(createTestKey("k-random"), cognitoClaims({ tenantId: "acme" }));
      expect(await v.verify(forged)).toEqual({ ok: false, reason: "unverified" }); // downloads (kid unknown), lacks it
      expect(requests).toBe(2);
      for (let i = 0; i < 20; i++) expect(await v.verify(forged)).toEqual({ ok: false, reason: "unverified" });
      expect(requests).toBe(2); // a flood of unknown kids: no more downloads for 10 s
      clock.advance(JWKS_DOWNLOAD_INTERVAL_MS);
      served = [k1, k2]; // Cognito rotates
      expect((await v.verify(signJwt(k2, cognitoClaims({ tenantId: "acme" })))).ok).toBe(true);
      expect(requests).toBe(3);
    });
  },
);
