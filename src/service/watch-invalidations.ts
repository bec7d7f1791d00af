import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { InvalidationHub, InvalidationKind, ResetReason, WatchEvent } from "../domain/invalidation-hub.js";
import { invalidArgument } from "../domain/errors.js";
import * as pb from "../gen/warpflow/auth/v1/token_service_pb.js";
import type { CallContext } from "../transport/protocol/unary-handlers.js";
import type { StreamHandlers } from "../transport/protocol/stream-handlers.js";
import { PUSH_STREAMS, type WithPushStreams } from "../transport/protocol/push-streams.js";

const KINDS: Record<InvalidationKind, pb.InvalidationKind> = {
  key_revoked: pb.InvalidationKind.KEY_REVOKED,
  key_rotated: pb.InvalidationKind.KEY_ROTATED,
  key_grace_ended: pb.InvalidationKind.KEY_GRACE_ENDED,
  key_created: pb.InvalidationKind.KEY_CREATED,
  key_changed: pb.InvalidationKind.KEY_CHANGED,
  session_revoked: pb.InvalidationKind.SESSION_REVOKED,
  tenant_sessions_revoked: pb.InvalidationKind.TENANT_SESSIONS_REVOKED,
  session_created: pb.InvalidationKind.SESSION_CREATED,
  tenant_policy_changed: pb.InvalidationKind.TENANT_POLICY_CHANGED,
  key_suspended: pb.InvalidationKind.KEY_SUSPENDED,
  key_resumed: pb.InvalidationKind.KEY_RESUMED,
};

const REASONS: Record<ResetReason, pb.ResetReason> = {
  start: pb.ResetReason.START,
  gap: pb.ResetReason.GAP,
  feed_restarted: pb.ResetReason.FEED_RESTARTED,
};

/**
 * WatchInvalidations: the hub's events as proto messages. Invalidations, numbered resets and each
 * tick's heartbeat are one event object for every watcher, so each becomes one message object
 * (cached here), which the grpc-js path encodes once (grpc-server.ts) for all watchers.
 */
export function createWatchHandlers(deps: {
  hub: InvalidationHub;
  /** The Introspect caller restrictions (introspect-callers.ts); undefined: anyone. */
  callerCheck?: ((ctx: CallContext) => void) | undefined;
}): StreamHandlers<typeof pb.TokenService> & WithPushStreams<typeof pb.TokenService> {
  const { hub, callerCheck } = deps;
  const messages = new WeakMap<WatchEvent, pb.WatchInvalidationsResponse>();
  const toMessage = (ev: WatchEvent): pb.WatchInvalidationsResponse => {
    let m = messages.get(ev);
    if (!m) {
      m = toProto(hub.instanceId, ev);
      messages.set(ev, m);
    }
    return m;
  };
  const watchRequest = (req: pb.WatchInvalidationsRequest, ctx: CallContext) => {
    callerCheck?.(ctx);
    if (req.resumeInstanceId.length > 64) throw invalidArgument("resume_instance_id", "at most 64 characters");
    return {
      resumeInstanceId: req.resumeInstanceId,
      // Past 2^53 no instance ever numbered that far: a gap, like any unknown point.
      resumeAfterSequence:
        req.resumeAfterSequence > BigInt(Number.MAX_SAFE_INTEGER) ? Infinity : Number(req.resumeAfterSequence),
    };
  };
  return {
    watchInvalidations(req, ctx) {
      return hub.watch(watchRequest(req, ctx), { signal: ctx.signal, onEvicted: () => ctx.hangUp(), map: toMessage });
    },
    // The same, pushed into the transport's sink (the direct gRPC path): the same checks, in the same order.
    [PUSH_STREAMS]: {
      watchInvalidations: (req, ctx, sink) => hub.subscribe(watchRequest(req, ctx), sink, toMessage),
    },
  };
}

function toProto(instanceId: string, ev: WatchEvent): pb.WatchInvalidationsResponse {
  const sequence = BigInt(ev.sequence);
  switch (ev.type) {
    case "invalidation": {
      const { kind, tenantId = "", keyId = "", sessionId = "", hipaaEnabled } = ev.invalidation;
      return create(pb.WatchInvalidationsResponseSchema, {
        instanceId,
        sequence,
        event: {
          case: "invalidation",
          value: create(pb.InvalidationSchema, { kind: KINDS[kind], tenantId, keyId, sessionId, hipaaEnabled }),
        },
      });
    }
    case "reset":
      return create(pb.WatchInvalidationsResponseSchema, {
        instanceId,
        sequence,
        event: { case: "reset", value: create(pb.ResetSchema, { reason: REASONS[ev.reason] }) },
      });
    case "heartbeat":
      return create(pb.WatchInvalidationsResponseSchema, {
        instanceId,
        sequence,
        event: {
          case: "heartbeat",
          value: create(pb.HeartbeatSchema, {
            serverTime: timestampFromDate(ev.serverTime),
            complete: ev.complete,
            intervalMs: ev.intervalMs,
          }),
        },
      });
  }
}
