// The secret-scanning keys (SECRET_SCANNING_KEYS_FILE or _URL) as one cached source. A file is read
// and checked at start (a bad one stops the service with one line naming the variable) and read again,
// like a download, when an alert names an identifier it lacks; a URL is downloaded in the background
// from the start (alerts before the first download answer 503, and GitHub retries).
import { readFile } from "node:fs/promises";
import { readFileSync } from "node:fs";
import type { Logger } from "pino";
import { createAlertKeyCache, type AlertKeyCache } from "../adapters/github/alert-key-cache.js";
import { fetchKeyList } from "../adapters/github/alert-key-fetch.js";
import { KeyListError, parseAlertKeyList } from "../adapters/github/alert-key-list.js";
import { ConfigError } from "../config.js";
import type { SecretScanningConfig } from "../config/secret-scanning-config.js";
import type { Clock } from "../ports/clock.js";
import { readSettingFile } from "./startup-errors.js";

export function openAlertKeys(config: SecretScanningConfig, clock: Clock, logger: Logger): AlertKeyCache {
  const keysConfig = config.keys;
  const onLoad = (o: { ok: true; keys: number } | { ok: false; error: Error }) =>
    o.ok
      ? logger.info({ keys: o.keys, from: "file" in keysConfig ? "file" : "url" }, "secret-scanning keys loaded")
      : logger.warn({ err: o.error.message }, "secret-scanning keys: load failed; keeping the keys already had");
  if ("file" in keysConfig) {
    const path = keysConfig.file;
    try {
      parseAlertKeyList(readSettingFile("SECRET_SCANNING_KEYS_FILE", path, readFileSync).toString("utf8"));
    } catch (err) {
      if (err instanceof KeyListError) throw new ConfigError("SECRET_SCANNING_KEYS_FILE", `${path}: ${err.message}`);
      throw err;
    }
    const cache = createAlertKeyCache({
      load: async () => parseAlertKeyList(await readFile(path, "utf8")),
      clock,
      refetchIntervalMs: config.refetchIntervalMs,
      // A file changes when the operator changes it: read again only on an unknown identifier.
      maxAgeMs: Number.POSITIVE_INFINITY,
      onLoad,
    });
    void cache.refresh();
    return cache;
  }
  const ca = keysConfig.caFile
    ? readSettingFile("SECRET_SCANNING_KEYS_CA_FILE", keysConfig.caFile, readFileSync).toString("utf8")
    : undefined;
  const url = keysConfig.url;
  const cache = createAlertKeyCache({
    load: async () => parseAlertKeyList(await fetchKeyList(url, { ca })),
    clock,
    refetchIntervalMs: config.refetchIntervalMs,
    onLoad,
  });
  void cache.refresh();
  return cache;
}
