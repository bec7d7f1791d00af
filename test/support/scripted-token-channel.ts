// A token client on a scripted channel (no server): the test answers Introspect and pushes the
// invalidation stream's messages by hand, on an injected clock. For test/unit/token-client*.test.ts.
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { vi } from "vitest";
import { TokenClientError } from "../../src/client/errors.js";
import type { TokenChannel, WatchHandlers } from "../../src/client/grpc-channel.js";
import { createTokenClient, type TokenClientOptions } from "../../src/client/token-client.js";
import {
  InactiveReason,
  IntrospectResponseSchema,
  TokenType,
  WatchInvalidationsResponseSchema,
  type InvalidationKind,
  type IntrospectResponse,
  type WatchInvalidationsRequest,
} from "../../src/gen/warpflow/auth/v1/token_service_pb.js";
import { createManualClock } from "./manual-clock.js";

export function scriptedChannel() {
  let handlers: WatchHandlers | undefined;
  const watches: WatchInvalidationsRequest[] = [];
  let seq = 0n;
  const answers = new Map<string, IntrospectResponse | Error>();
  const introspect = vi.fn(async (token: string) => {
    await Promise.resolve();
    const a = answers.get(token) ?? create(IntrospectResponseSchema, { inactiveReason: InactiveReason.NOT_FOUND });
    if (a instanceof Error) throw a;
    return a;
  });
  const channel: TokenChannel = {
    introspect,
    watch(req, h) {
      watches.push(req);
      handlers = h;
      return { cancel: () => h.end(undefined) };
    },
    close() {},
  };
  const push = (event: Parameters<typeof create<typeof WatchInvalidationsResponseSchema>>[1]) =>
    handlers!.data(create(WatchInvalidationsResponseSchema, { instanceId: "i1", ...event }));
  /** The next Introspect call stays pending until the test settles it. */
  const holdNext = () => {
    const held: { resolve?: (a: IntrospectResponse) => void; reject?: (e: Error) => void } = {};
    introspect.mockImplementationOnce(
      () =>
        new Promise<IntrospectResponse>((resolve, reject) => {
          held.resolve = resolve;
          held.reject = reject;
        }),
    );
    return held;
  };
  return {
    channel,
    introspect,
    answers,
    watches,
    holdNext,
    reset: () => push({ sequence: (seq += 1n), event: { case: "reset", value: {} } }),
    /** `serverTimeMs`: the heartbeat's server_time (absent: none). */
    heartbeat: (complete = true, serverTimeMs?: number) =>
      push({
        sequence: seq,
        event: {
          case: "heartbeat",
          value: { complete, serverTime: serverTimeMs === undefined ? undefined : timestampFromMs(serverTimeMs) },
        },
      }),
    invalidate: (
      kind: InvalidationKind,
      ids: { tenantId?: string; keyId?: string; sessionId?: string; hipaaEnabled?: boolean },
    ) => push({ sequence: (seq += 1n), event: { case: "invalidation", value: { kind, ...ids } } }),
    skipSequence: () => (seq += 1n),
    cut: () => handlers!.end(new TokenClientError("unavailable", "cut")),
  };
}

/** The server's answer for an active API key. */
export const activeKey = (
  tenantId: string,
  keyId: string,
  extra: Partial<Omit<IntrospectResponse, "$typeName">> = {},
) => create(IntrospectResponseSchema, { active: true, tokenType: TokenType.API_KEY, tenantId, keyId, ...extra });

/** A client on a scripted channel whose stream is healthy (a reset, then a complete heartbeat). */
export function scriptedClient(opts: Partial<TokenClientOptions> = {}) {
  const clock = createManualClock();
  const s = scriptedChannel();
  const client = createTokenClient({ address: "unused", channel: s.channel, clock, ...opts });
  s.reset();
  s.heartbeat();
  return { clock, s, client };
}
