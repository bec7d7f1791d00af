import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createAlertKeyCache } from "../../src/adapters/github/alert-key-cache.js";
import { parseAlertKeyList } from "../../src/adapters/github/alert-key-list.js";
import { loadConfig } from "../../src/config.js";
import { createManualClock } from "../support/manual-clock.js";
import { keyList, newSigner } from "../support/secret-scanning.js";

/** Issue 24: the key list's shape, the cache's download bounds, and the settings. */
const pem = (type: "ec" | "rsa", curve = "prime256v1") =>
  (type === "ec"
    ? generateKeyPairSync("ec", { namedCurve: curve })
    : generateKeyPairSync("rsa", { modulusLength: 2048 })
  ).publicKey
    .export({ type: "spki", format: "pem" })
    .toString();
const list = (key: string, id = "k1") =>
  JSON.stringify({ public_keys: [{ key_identifier: id, key, is_current: true }] });

describe("parseAlertKeyList", () => {
  it("takes GitHub's shape, every listed key (current or not)", () => {
    const a = newSigner("a1");
    const b = newSigner("b2");
    expect([...parseAlertKeyList(keyList(a, b)).keys()]).toEqual(["a1", "b2"]);
  });

  it.each([
    ["not JSON", "{", /not valid JSON/],
    ["no public_keys", "{}", /non-empty array/],
    ["an RSA key", list(pem("rsa")), /not an EC P-256 key/],
    ["a P-384 key", list(pem("ec", "secp384r1")), /not an EC P-256 key/],
    ["not PEM", list("hello"), /not a PEM public key/],
    ["an identifier with spaces", list(pem("ec"), "a b"), /key_identifier/],
    [
      "a private key",
      list(
        generateKeyPairSync("ec", { namedCurve: "prime256v1" })
          .privateKey.export({ type: "pkcs8", format: "pem" })
          .toString(),
      ),
      /private key/,
    ],
  ])("refuses %s, naming the entry and never echoing it", (_, text, message) => {
    expect(() => parseAlertKeyList(text)).toThrow(message);
  });
});

describe("the key cache", () => {
  it("joins concurrent askers into one load and loads again for an unknown identifier at most once per interval", async () => {
    const clock = createManualClock();
    let loads = 0;
    let release!: () => void;
    const cache = createAlertKeyCache({
      clock,
      refetchIntervalMs: 10_000,
      load: async () => {
        loads++;
        await new Promise<void>((r) => (release = r));
        return parseAlertKeyList(keyList(newSigner("known")));
      },
    });
    const asks = Array.from({ length: 20 }, (_, i) => cache.key(i % 2 ? "known" : `unknown-${i}`));
    release();
    const keys = await Promise.all(asks);
    expect(loads).toBe(1);
    expect(keys.filter(Boolean)).toHaveLength(10);
    expect(await cache.key("unknown-x")).toBeUndefined();
    expect(loads).toBe(1); // within the interval
    clock.advance(10_000);
    const next = cache.key("unknown-y");
    release();
    expect(await next).toBeUndefined();
    expect(loads).toBe(2);
  });

  it("keeps the keys it had when a load fails; with none at all it is UNAVAILABLE", async () => {
    const clock = createManualClock();
    let fail = true;
    const cache = createAlertKeyCache({
      clock,
      load: async () => {
        if (fail) throw new Error("down");
        return parseAlertKeyList(keyList(newSigner("k")));
      },
    });
    await expect(cache.key("k")).rejects.toMatchObject({ code: "unavailable" });
    fail = false;
    clock.advance(10_000);
    expect(await cache.key("k")).toBeDefined();
    fail = true;
    clock.advance(2 * 60 * 60 * 1000); // past the 1-hour age: a reload is tried, and fails
    expect(await cache.key("k")).toBeDefined();
  });
});

describe("SECRET_SCANNING_* settings", () => {
  const base = { ADMIN_KEY_FILE: "/tmp/x" };
  it("off by default; on: GitHub's URL unless a file is named", () => {
    expect(loadConfig(base).secretScanning).toBeUndefined();
    expect(loadConfig({ ...base, SECRET_SCANNING_ENABLED: "true" }).secretScanning).toEqual({
      keys: { url: "https://api.github.com/meta/public_keys/secret_scanning", caFile: undefined },
      maxBodyBytes: 1048576,
      refetchIntervalMs: 10_000,
    });
    expect(
      loadConfig({ ...base, SECRET_SCANNING_ENABLED: "true", SECRET_SCANNING_KEYS_FILE: "/k.json" }).secretScanning!
        .keys,
    ).toEqual({ file: "/k.json" });
  });

  it.each([
    [
      { SECRET_SCANNING_KEYS_FILE: "/k.json" },
      /SECRET_SCANNING_KEYS_FILE: is set but SECRET_SCANNING_ENABLED is not true/,
    ],
    [
      { SECRET_SCANNING_ENABLED: "true", SECRET_SCANNING_KEYS_FILE: "/k", SECRET_SCANNING_KEYS_URL: "https://x/" },
      /not both/,
    ],
    [{ SECRET_SCANNING_ENABLED: "true", SECRET_SCANNING_KEYS_URL: "http://x/keys" }, /must be an https:\/\/ URL/],
    [{ SECRET_SCANNING_ENABLED: "true", SECRET_SCANNING_MAX_BODY_BYTES: "10" }, /SECRET_SCANNING_MAX_BODY_BYTES/],
  ])("refuses %o", (env, message) => {
    expect(() => loadConfig({ ...base, ...env })).toThrow(message);
  });
});
