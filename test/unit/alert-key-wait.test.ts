// The key check before an alert's body is read waits on a key-list load for a short bound only: a
// load that hangs (a stuck file read) answers "unavailable" (503, GitHub retries) in time instead
// of keeping the alert waiting; a known identifier answers at once, a made-up one false.
import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { ExposureService } from "../../src/domain/exposure-service.js";
import { createSecretScanningReceiver } from "../../src/service/secret-scanning-alerts.js";

const { publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
const exposures = {} as ExposureService;

describe("knowsKey", () => {
  it("answers a held identifier true and a made-up one false", async () => {
    const r = createSecretScanningReceiver({
      keys: { key: (id) => Promise.resolve(id === "k1" ? publicKey : undefined) },
      exposures,
    });
    expect(await r.knowsKey("k1")).toBe(true);
    expect(await r.knowsKey("made-up")).toBe(false);
    expect(await r.knowsKey("")).toBe(false);
    expect(await r.knowsKey("x".repeat(10_000))).toBe(false);
  });

  it("a load that hangs is unavailable after the wait bound, not forever", async () => {
    const r = createSecretScanningReceiver({
      keys: { key: () => new Promise(() => undefined) },
      exposures,
      keyLookupWaitMs: 200,
    });
    const started = Date.now();
    await expect(r.knowsKey("k2")).rejects.toMatchObject({ code: "unavailable" });
    expect(Date.now() - started).toBeLessThan(2000);
  });
});
