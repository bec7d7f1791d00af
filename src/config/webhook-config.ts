// Lifecycle webhooks (issue 24, docs/webhooks.md): WEBHOOK_* settings.
import { isIP } from "node:net";
import { bool, ConfigError, int, list, type Env } from "./env.js";

export interface WebhookConfig {
  /** WEBHOOK_DELIVERY: this instance sends (off: it only stores events; another instance sends). */
  deliveryEnabled: boolean;
  /** How often the sender looks for due messages (a new event on this instance is sent at once). */
  pollMs: number;
  /** Connect + response deadline of one delivery. */
  timeoutMs: number;
  /** Response bytes read (and discarded) before the connection is closed. */
  maxResponseBytes: number;
  /** Backoff: the first retry after about this long, doubling, at most retryMaxMs, with jitter. */
  retryBaseMs: number;
  retryMaxMs: number;
  /** An endpoint failing (no success) for this long is disabled (about a day by default). */
  disableAfterMs: number;
  /** A replica's claim on an endpoint's deliveries lapses after this long if not finished. */
  claimMs: number;
  /** After RotateWebhookSecret the previous secret signs beside the new one for this long. */
  secretOverlapMs: number;
  maxEndpointsPerTenant: number;
  /** Undelivered messages an endpoint may have; at this many it takes no more and is disabled (audited). */
  maxPendingPerEndpoint: number;
  /** http:// URLs accepted (tests, internal receivers). Default: https only. */
  allowHttp: boolean;
  /** Loopback, link-local, private and unspecified destinations allowed (SSRF guard off). */
  allowPrivateDestinations: boolean;
  /** CIDRs allowed even though private (e.g. an internal receiver), e.g. 10.1.2.0/24,fd00::/8. */
  allowedCidrs: { address: string; prefix: number; family: "ipv4" | "ipv6" }[];
}

function cidrs(env: Env, name: string): WebhookConfig["allowedCidrs"] {
  return list(env[name]).map((entry) => {
    const [address = "", bits = ""] = entry.split("/");
    const family = isIP(address);
    const prefix = Number(bits);
    if (family === 0 || !/^\d+$/.test(bits) || prefix > (family === 4 ? 32 : 128))
      throw new ConfigError(name, "must be a comma-separated list of CIDRs (e.g. 10.0.0.0/8,fd00::/8)");
    return { address, prefix, family: family === 4 ? "ipv4" : "ipv6" };
  });
}

export function loadWebhookConfig(env: Env): { webhooks: WebhookConfig } {
  const delivery = (env.WEBHOOK_DELIVERY ?? "on").toLowerCase();
  if (delivery !== "on" && delivery !== "off") throw new ConfigError("WEBHOOK_DELIVERY", "must be on or off");
  const timeoutMs = int(env, "WEBHOOK_TIMEOUT_MS", 10_000, 50, 120_000);
  const claimMs = int(env, "WEBHOOK_CLAIM_MS", 60_000, 100, 3_600_000);
  // A claim must outlast one attempt, or another replica could send the same message meanwhile.
  if (claimMs <= timeoutMs) throw new ConfigError("WEBHOOK_CLAIM_MS", "must be greater than WEBHOOK_TIMEOUT_MS");
  return {
    webhooks: {
      deliveryEnabled: delivery === "on",
      pollMs: int(env, "WEBHOOK_POLL_MS", 1000, 10, 600_000),
      timeoutMs,
      maxResponseBytes: int(env, "WEBHOOK_MAX_RESPONSE_BYTES", 65_536, 0, 16_777_216),
      retryBaseMs: int(env, "WEBHOOK_RETRY_BASE_MS", 5000, 1, 86_400_000),
      retryMaxMs: int(env, "WEBHOOK_RETRY_MAX_MS", 36_000_000, 1, 86_400_000),
      disableAfterMs: int(env, "WEBHOOK_DISABLE_AFTER_MS", 86_400_000, 10, 30 * 86_400_000),
      claimMs,
      secretOverlapMs: int(env, "WEBHOOK_SECRET_OVERLAP_MS", 86_400_000, 0, 30 * 86_400_000),
      maxEndpointsPerTenant: int(env, "WEBHOOK_MAX_ENDPOINTS_PER_TENANT", 10, 1, 1000),
      maxPendingPerEndpoint: int(env, "WEBHOOK_MAX_PENDING_PER_ENDPOINT", 1000, 10, 1_000_000),
      allowHttp: bool(env, "WEBHOOK_ALLOW_HTTP"),
      allowPrivateDestinations: bool(env, "WEBHOOK_ALLOW_PRIVATE_DESTINATIONS"),
      allowedCidrs: cidrs(env, "WEBHOOK_ALLOWED_CIDRS"),
    },
  };
}
