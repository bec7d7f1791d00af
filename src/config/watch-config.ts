// WatchInvalidations: WATCH_MAX_WATCHERS, WATCH_HEARTBEAT_MS, WATCH_REPLAY_BUFFER, WATCH_ALLOW_OPEN
// (docs/watch-protocol.md).
import { bool, int, type Env } from "./env.js";

export interface WatchConfig {
  /** Open WatchInvalidations streams in all (per address: MAX_OPEN_STREAMS_PER_ADDRESS). */
  watchMaxWatchers: number;
  /** Heartbeat interval: a client's staleness bound must exceed it (default 500 ms: two per 1 s bound; bench `watchers`). */
  watchHeartbeatMs: number;
  /** Invalidations kept for resuming clients. */
  watchReplayBuffer: number;
  /** Serve watches with no caller restriction configured (service/watch-policy.ts); default: not in production. */
  watchAllowOpen: boolean;
}

export function loadWatchConfig(env: Env): WatchConfig {
  return {
    watchMaxWatchers: int(env, "WATCH_MAX_WATCHERS", 10_000, 0, 1_000_000),
    watchHeartbeatMs: int(env, "WATCH_HEARTBEAT_MS", 500, 50, 60_000),
    watchReplayBuffer: int(env, "WATCH_REPLAY_BUFFER", 10_000, 1, 1_000_000),
    watchAllowOpen: env.WATCH_ALLOW_OPEN ? bool(env, "WATCH_ALLOW_OPEN") : env.NODE_ENV !== "production",
  };
}
