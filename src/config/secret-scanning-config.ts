// The secret-scanning alert endpoint (POST /api/v1/secret-scanning/alerts, issue 24): off unless
// SECRET_SCANNING_ENABLED; keys from SECRET_SCANNING_KEYS_FILE (offline, air-gapped) or fetched from
// SECRET_SCANNING_KEYS_URL (default GitHub's list), never both.
import { bool, ConfigError, int, type Env } from "./env.js";

export const GITHUB_SECRET_SCANNING_KEYS_URL = "https://api.github.com/meta/public_keys/secret_scanning";

export interface SecretScanningConfig {
  /** Where the verifying keys come from: a file (read at start, again on an unknown identifier) or a URL. */
  keys: { file: string } | { url: string; caFile?: string | undefined };
  /** Largest alert body read (GitHub batches matches: ~200 bytes each). */
  maxBodyBytes: number;
  /** At most one key-list load per this interval after one that lacked the identifier asked for. */
  refetchIntervalMs: number;
}

export interface SecretScanningSettings {
  /** undefined: the endpoint answers 404 like any unknown path. */
  secretScanning?: SecretScanningConfig | undefined;
}

export function loadSecretScanningConfig(env: Env): SecretScanningSettings {
  const file = env.SECRET_SCANNING_KEYS_FILE || undefined;
  const url = env.SECRET_SCANNING_KEYS_URL || undefined;
  const caFile = env.SECRET_SCANNING_KEYS_CA_FILE || undefined;
  if (!bool(env, "SECRET_SCANNING_ENABLED")) {
    for (const name of ["SECRET_SCANNING_KEYS_FILE", "SECRET_SCANNING_KEYS_URL", "SECRET_SCANNING_KEYS_CA_FILE"])
      if (env[name]) throw new ConfigError(name, "is set but SECRET_SCANNING_ENABLED is not true");
    return {};
  }
  if (file && url) throw new ConfigError("SECRET_SCANNING_KEYS_FILE", "set it or SECRET_SCANNING_KEYS_URL, not both");
  if (file && caFile) throw new ConfigError("SECRET_SCANNING_KEYS_CA_FILE", "only applies to SECRET_SCANNING_KEYS_URL");
  const target = url ?? GITHUB_SECRET_SCANNING_KEYS_URL;
  if (!file) {
    let parsed: URL;
    try {
      parsed = new URL(target);
    } catch {
      throw new ConfigError("SECRET_SCANNING_KEYS_URL", "must be an https:// URL");
    }
    if (parsed.protocol !== "https:") throw new ConfigError("SECRET_SCANNING_KEYS_URL", "must be an https:// URL");
  }
  return {
    secretScanning: {
      keys: file ? { file } : { url: target, caFile },
      maxBodyBytes: int(env, "SECRET_SCANNING_MAX_BODY_BYTES", 1024 * 1024, 1024, 16 * 1024 * 1024),
      refetchIntervalMs: int(env, "SECRET_SCANNING_KEYS_REFETCH_INTERVAL_MS", 10_000, 1000, 3_600_000),
    },
  };
}
