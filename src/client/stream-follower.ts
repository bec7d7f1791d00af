// Follows WatchInvalidations: applies invalidations and resets to the cache in order, records each
// heartbeat (time on the caller's clock, complete flag), reconnects with capped exponential backoff
// and full jitter, and resumes from the last (instance_id, sequence) it saw. Anything out of order
// (a sequence gap, another instance without a reset, a heartbeat ahead of what it received) drops
// the whole cache: the client cannot know what it missed.
import { create } from "@bufbuild/protobuf";
import {
  WatchInvalidationsRequestSchema,
  type WatchInvalidationsResponse,
} from "../gen/warpflow/auth/v1/token_service_pb.js";
import { timestampMs, type Timestamp } from "@bufbuild/protobuf/wkt";
import type { AnswerCache } from "./answer-cache.js";
import type { TokenChannel } from "./grpc-channel.js";

export interface StreamState {
  connected: boolean;
  /** Caller's clock (ms) when the last heartbeat arrived; undefined before the first one. */
  lastHeartbeatAtMs: number | undefined;
  /** The last heartbeat's complete flag (false until one says true). */
  complete: boolean;
  /**
   * Caller's clock (ms) when the last heartbeat that said complete arrived: the last instant the
   * stream vouched for the whole cache (the ride-through bound counts from it).
   */
  lastCompleteHeartbeatAtMs: number | undefined;
  /**
   * How far the server's clock is ahead of the caller's (ms, >= 0): the largest `server_time` minus
   * arrival time of any heartbeat (a lower bound of the true lead: the heartbeat's transit is in it).
   * A token's `expires_at` is the server's instant; the client reads it this much earlier on its own
   * clock, so a caller whose clock lags never answers active past the server's expiry.
   */
  serverLeadMs: number;
  instanceId: string;
  sequence: bigint;
  reconnects: number;
  resets: number;
}

export interface FollowerOptions {
  channel: TokenChannel;
  cache: AnswerCache;
  now: () => number;
  backoffInitialMs: number;
  backoffMaxMs: number;
  /** No message for this long (real time): the stream is cut and reconnected. */
  silentMs: number;
  /** Called on every reset or forced clear, with the reason (metrics, logs). */
  onReset?: (reason: string) => void;
  onStateChange?: () => void;
}

export interface StreamFollower {
  readonly state: Readonly<StreamState>;
  stop(): void;
}

/** A growth of the server's lead past this (ms) drops the cache (see noteServerTime). */
export const LEAD_STEP_MS = 250;

export function startStreamFollower(opts: FollowerOptions): StreamFollower {
  const { cache, now } = opts;
  const state: StreamState = {
    connected: false,
    lastHeartbeatAtMs: undefined,
    complete: false,
    lastCompleteHeartbeatAtMs: undefined,
    serverLeadMs: 0,
    instanceId: "",
    sequence: 0n,
    reconnects: 0,
    resets: 0,
  };
  let stopped = false;
  let current: { cancel(): void } | undefined;
  let timer: NodeJS.Timeout | undefined;
  let attempt = 0;
  // Real time (not the injected clock) of the last message: a stream silent for silentMs while its
  // connection stays up (a stuck proxy) is cancelled and reconnected. Monotonic: a wall-clock step
  // back must not keep a silent stream open.
  const elapsed = () => performance.now();
  let lastMessageAt = elapsed();
  const watchdog = setInterval(
    () => {
      if (current && elapsed() - lastMessageAt > opts.silentMs) {
        current.cancel();
        opts.channel.renew?.();
      }
    },
    Math.max(10, Math.floor(opts.silentMs / 4)),
  );
  watchdog.unref?.();

  const drop = (reason: string) => {
    cache.clear();
    state.resets++;
    opts.onReset?.(reason);
  };

  /**
   * The server's lead over the caller's clock grows: entries cached before read their expiry with
   * the smaller lead. By more than a heartbeat's transit could explain (the caller's clock stepped
   * back, or a server's is further ahead): drop them (the cache answers nothing it cannot vouch for).
   */
  let leadKnown = false;
  const noteServerTime = (serverTime: Timestamp | undefined, at: number) => {
    if (!serverTime) return;
    const lead = timestampMs(serverTime) - at;
    const known = leadKnown;
    leadKnown = true;
    if (!(lead > state.serverLeadMs)) return; // NaN-safe; a lag (the caller ahead) counts as none
    // Before the first heartbeat nothing was answered from cache: what it holds goes without a reset.
    if (lead - state.serverLeadMs > LEAD_STEP_MS) {
      if (known) drop("clock_step");
      else cache.clear();
    }
    state.serverLeadMs = lead;
  };

  const onMessage = (m: WatchInvalidationsResponse) => {
    lastMessageAt = elapsed();
    state.connected = true;
    if (m.instanceId !== state.instanceId && m.event.case !== "reset") {
      // Another instance without a reset first: its sequences say nothing about what was missed.
      drop("instance_changed");
      state.sequence = 0n;
    }
    state.instanceId = m.instanceId;
    switch (m.event.case) {
      case "reset":
        drop("reset");
        state.sequence = m.sequence;
        break;
      case "invalidation":
        if (m.sequence !== state.sequence + 1n) drop("sequence_gap");
        cache.invalidate(m.event.value, now());
        state.sequence = m.sequence;
        break;
      case "heartbeat":
        if (m.sequence > state.sequence) {
          drop("sequence_gap");
          state.sequence = m.sequence;
        }
        attempt = 0; // a working stream: the next reconnect starts from the initial backoff
        state.lastHeartbeatAtMs = now();
        noteServerTime(m.event.value.serverTime, state.lastHeartbeatAtMs);
        state.complete = m.event.value.complete;
        if (state.complete) state.lastCompleteHeartbeatAtMs = state.lastHeartbeatAtMs;
        break;
      case undefined:
      default:
        return; // a future event kind: nothing to apply
    }
    opts.onStateChange?.();
  };

  const connect = () => {
    timer = undefined;
    if (stopped) return;
    const req = create(WatchInvalidationsRequestSchema, {
      resumeInstanceId: state.instanceId,
      resumeAfterSequence: state.sequence,
    });
    lastMessageAt = elapsed();
    current = opts.channel.watch(req, {
      data: onMessage,
      end: () => {
        current = undefined;
        state.connected = false;
        state.complete = false; // no answer from cache until a heartbeat of the next stream
        opts.onStateChange?.();
        if (stopped) return;
        state.reconnects++;
        const cap = Math.min(opts.backoffMaxMs, opts.backoffInitialMs * 2 ** Math.min(attempt, 20));
        attempt++;
        timer = setTimeout(connect, Math.round(Math.random() * cap));
        timer.unref?.();
      },
    });
  };
  connect();

  return {
    state,
    stop() {
      stopped = true;
      clearInterval(watchdog);
      if (timer) clearTimeout(timer);
      current?.cancel();
    },
  };
}
