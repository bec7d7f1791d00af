import { readFileSync } from "node:fs";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestPki, hasOpenssl, type TestPki } from "../support/certs.js";
import { createManualClock } from "../support/manual-clock.js";
import { pollValue } from "../support/poll.js";
import { alertBody, keyList, newSigner, postAlert } from "../support/secret-scanning.js";
import { startTestApp, type TestApp } from "../support/test-app.js";

/**
 * Issue 24: the key list fetched from a URL (SECRET_SCANNING_KEYS_URL), here a local HTTPS server
 * whose self-signed CA the service trusts through SECRET_SCANNING_KEYS_CA_FILE: rotation (a refetch
 * on an unknown identifier), a flood of unknown identifiers (one download per interval), a stalled
 * or oversize list (bounded; the keys already had stay), and an untrusted server (never verifies).
 */
const openssl = hasOpenssl();
if (!openssl) console.warn("secret-scanning URL tests skipped: the openssl CLI is needed for test certificates");

describe.skipIf(!openssl)("the key list from a local HTTPS server", () => {
  let pki: TestPki;
  let server: https.Server;
  let served = 0;
  let mode: "ok" | "stall" | "huge" = "ok";
  let list = "";
  let url = "";
  const first = newSigner();
  const clock = createManualClock(new Date());
  let t: TestApp;

  beforeAll(async () => {
    pki = createTestPki();
    list = keyList(first);
    server = https.createServer(
      { cert: readFileSync(pki.serverCertFile), key: readFileSync(pki.serverKeyFile) },
      (req, res) => {
        served++;
        if (mode === "stall") return; // never answers
        const body = mode === "huge" ? JSON.stringify({ public_keys: [], pad: "x".repeat(100_000) }) : list;
        res.writeHead(200, { "content-type": "application/json" });
        res.end(body);
      },
    );
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/meta/public_keys/secret_scanning`;
    t = await startTestApp({
      clock,
      env: {
        SECRET_SCANNING_ENABLED: "true",
        SECRET_SCANNING_KEYS_URL: url,
        SECRET_SCANNING_KEYS_CA_FILE: pki.caFile,
      },
    });
  });
  afterAll(async () => {
    await t?.close();
    server.closeAllConnections();
    server.close();
  });

  const newKey = async (tenantId: string) =>
    (await t.grpc.createKey({ tenantId, label: "leaky" }, { bearer: t.adminKey })).token;

  it("downloads the list at start and revokes a reported key", async () => {
    const answer = await pollValue(
      () => postAlert(t.baseUrl, "[]", first),
      (a) => a.status !== 503,
    );
    expect(answer.status).toBe(200);
    expect(served).toBe(1);
    const token = await newKey("url-a");
    const a = await postAlert(t.baseUrl, alertBody([{ token }]), first);
    expect(a.status).toBe(200);
    expect((a.json as { label: string }[])[0]!.label).toBe("true_positive");
    expect((await t.grpc.introspect({ token })).active).toBe(false);
    expect(served).toBe(1); // a known identifier costs no download
  });

  it("a flood of unknown identifiers costs at most one download per interval", async () => {
    clock.advance(11_000);
    const before = served;
    const answers = await Promise.all(Array.from({ length: 50 }, () => postAlert(t.baseUrl, "[]", newSigner())));
    expect(answers.every((a) => a.status === 401)).toBe(true);
    expect(served - before).toBe(1);
    const more = await Promise.all(Array.from({ length: 20 }, () => postAlert(t.baseUrl, "[]", newSigner())));
    expect(more.every((a) => a.status === 401)).toBe(true);
    expect(served - before).toBe(1);
  });

  it("a rotated key identifier is fetched once the interval has passed", async () => {
    const rotated = newSigner();
    list = keyList(rotated, first);
    const token = await newKey("url-b");
    clock.advance(11_000);
    const before = served;
    const a = await postAlert(t.baseUrl, alertBody([{ token }]), rotated);
    expect(a.status).toBe(200);
    expect(served - before).toBe(1);
    expect((await t.grpc.introspect({ token })).active).toBe(false);
    // The old key is still listed (is_current false): alerts it signed still verify.
    expect((await postAlert(t.baseUrl, "[]", first)).status).toBe(200);
  });

  it("a stalled or oversize list is bounded and the keys already had stay", async () => {
    mode = "stall";
    clock.advance(11_000);
    const started = performance.now();
    const stalled = await postAlert(t.baseUrl, "[]", newSigner());
    const ms = performance.now() - started;
    expect(stalled.status).toBe(401);
    expect(ms).toBeLessThan(10_000); // the download's own bound is 2 s
    console.log(`secret-scanning: an unknown identifier while the key list stalls answered in ${ms.toFixed(0)} ms`);
    mode = "huge";
    clock.advance(11_000);
    expect((await postAlert(t.baseUrl, "[]", newSigner())).status).toBe(401);
    mode = "ok";
    expect((await postAlert(t.baseUrl, "[]", first)).status).toBe(200);
  });

  it("without the CA setting the server is not trusted: nothing ever verifies (503, GitHub retries)", async () => {
    const untrusting = await startTestApp({
      env: { SECRET_SCANNING_ENABLED: "true", SECRET_SCANNING_KEYS_URL: url },
    });
    try {
      const before = served;
      const a = await postAlert(untrusting.baseUrl, "[]", first);
      expect(a.status).toBe(503);
      expect(a.json).toMatchObject({ error: { code: "unavailable" } });
      // The TLS handshake failed: no request ever reached the key-list server.
      expect(served).toBe(before);
      expect(untrusting.logs.some((l) => l.includes("secret-scanning keys: load failed"))).toBe(true);
    } finally {
      await untrusting.close();
    }
  });
});
