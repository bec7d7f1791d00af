import { Code, ConnectError } from "@connectrpc/connect";
import type { ServedService } from "../protocol/served-service.js";
import type { StreamCallContext } from "../protocol/stream-handlers.js";
import type { DescService } from "@bufbuild/protobuf";
import {
  PUSH_STREAMS,
  type PushCallContext,
  type StreamHandle,
  type StreamSink,
  type WithPushStreams,
} from "../protocol/push-streams.js";
import { createAddressCounts } from "../protocol/address-counts.js";
import { addressGroupOf } from "../../domain/address-group.js";

export interface OpenStreamLimits {
  /** Open streaming calls in all, every client and protocol together. */
  max: number;
  /** Open streaming calls one client address may hold (0 = no per-address bound). */
  maxPerAddress: number;
}

/**
 * A bound on the built-in services' open streaming calls (health Watch, reflection), on every
 * transport. Such a call may stay open for as long as the client likes, and each holds memory for
 * as long (measured: 25,000 gRPC-Web Watch calls from one address, 100 per connection, RSS 88 ->
 * 1,137 MiB, all still open minutes later). Past `max` open calls in all, or `maxPerAddress` from
 * one client address (so one client cannot take every place: measured, 2,000 Watch calls from one
 * address left every other client's Watch and reflection RESOURCE_EXHAUSTED), a new one answers
 * RESOURCE_EXHAUSTED at once and its memory is free again; unary methods are not counted. A call
 * whose address is unknown counts only against `max`.
 */
export function limitOpenStreams(services: ServedService[], limits: OpenStreamLimits): ServedService[] {
  const counted = createStreamCounter(limits);
  return services.map(({ service, handlers }) => {
    const limited = { ...handlers };
    for (const method of service.methods) {
      if (method.methodKind === "unary") continue;
      const h = handlers[method.localName]! as (
        input: unknown,
        signal: AbortSignal,
        peer?: string,
      ) => AsyncIterable<unknown>;
      limited[method.localName] = ((input: unknown, signal: AbortSignal, peer?: string) =>
        counted(addressOf(peer), () => h(input, signal, peer))) as never;
    }
    return { service, handlers: limited };
  });
}

/**
 * One bound on open streams (in all and per address), as limitOpenStreams applies to the built-in
 * services; WatchInvalidations has its own (WATCH_MAX_WATCHERS). `what` names them in the refusal.
 */
export function createStreamCounter(
  limits: OpenStreamLimits,
  what = "open streams",
): <T>(address: string | undefined, start: () => AsyncIterable<T>) => AsyncIterable<T> {
  return countedBy(createStreamPlaces(limits, what));
}

function countedBy(places: ReturnType<typeof createStreamPlaces>) {
  return async function* counted<T>(peerAddress: string | undefined, start: () => AsyncIterable<T>): AsyncIterable<T> {
    const address = places.take(peerAddress);
    try {
      yield* start();
    } finally {
      places.give(address);
    }
  };
}

/** The places behind createStreamCounter: take one (or throw RESOURCE_EXHAUSTED), give it back. */
function createStreamPlaces(limits: OpenStreamLimits, what: string) {
  let open = 0;
  const byAddress = createAddressCounts();
  return {
    /** Returns the address the place is counted under (give it back with that). */
    take(peerAddress: string | undefined): string | undefined {
      // An IPv6 client counts by its /64 (it can pick a new address per connection), an IPv4-mapped
      // address as the IPv4 one (grpc-js and the Connect path may write the same client either way).
      const address = peerAddress === undefined ? undefined : (addressGroupOf(peerAddress) ?? peerAddress);
      if (open >= limits.max)
        throw new ConnectError(`too many ${what} (${limits.max}), retry later`, Code.ResourceExhausted);
      const mine = address === undefined ? 0 : byAddress.of(address);
      if (address !== undefined && limits.maxPerAddress > 0 && mine >= limits.maxPerAddress) {
        throw new ConnectError(
          `too many ${what} from this address (${limits.maxPerAddress}), retry later`,
          Code.ResourceExhausted,
        );
      }
      open++;
      if (address !== undefined) byAddress.add(address);
      return address;
    },
    give(address: string | undefined): void {
      open--;
      if (address !== undefined) byAddress.release(address);
    },
  };
}

/**
 * The address of a peer written "ip:port" or "[ipv6]:port" (the port differs per connection). Both
 * sources give a port for every TCP peer: grpc-js's getPeer() ("1.2.3.4:5678", IPv6 unbracketed
 * "::1:5678") and peer.ts peerOf on the Connect path.
 */
export function addressOf(peer: string | undefined): string | undefined {
  if (!peer || peer === "unknown") return undefined;
  if (peer.startsWith("[")) {
    const end = peer.indexOf("]");
    return end > 0 ? peer.slice(1, end) : peer;
  }
  const colon = peer.lastIndexOf(":");
  return colon > 0 ? peer.slice(0, colon) : peer;
}

/**
 * Transport-neutral streaming handlers (StreamHandlers: WatchInvalidations) under one stream bound;
 * their pushed forms (PUSH_STREAMS, the direct gRPC path) count against the same places.
 */
export function limitStreamHandlers<H extends object>(handlers: H, limits: OpenStreamLimits, what: string): H {
  const places = createStreamPlaces(limits, what);
  const counted = countedBy(places);
  const limited: Record<string | symbol, unknown> = {};
  for (const [name, h] of Object.entries(handlers) as [
    string,
    (req: unknown, ctx: StreamCallContext) => AsyncIterable<unknown>,
  ][]) {
    limited[name] = (req: unknown, ctx: StreamCallContext) => counted(addressOf(ctx.peer), () => h(req, ctx));
  }
  const pushed = (handlers as WithPushStreams<DescService>)[PUSH_STREAMS] as Record<string, PushHandler> | undefined;
  if (pushed) {
    const out: Record<string, PushHandler> = {};
    const giveBack = (ctx: PushCallContext) => places.give(ctx.place ?? undefined);
    for (const [name, h] of Object.entries(pushed))
      out[name] = (req, ctx, sink) => pushCounted(places, giveBack, h, req, ctx, sink);
    limited[PUSH_STREAMS] = out;
  }
  return limited as H;
}

type PushHandler = (req: unknown, ctx: PushCallContext, sink: StreamSink<unknown>) => StreamHandle;

/** A pushed stream under the bound: its place is given back when the transport's stream closes. */
function pushCounted(
  places: ReturnType<typeof createStreamPlaces>,
  giveBack: (ctx: PushCallContext) => void,
  h: PushHandler,
  req: unknown,
  ctx: PushCallContext,
  sink: StreamSink<unknown>,
): StreamHandle {
  const address = places.take(addressOf(ctx.peer));
  // Registered before the handler runs: a watch that ends inside its own start (the hub already
  // closed) gives its place back through onClose like any other.
  ctx.place = address ?? null;
  ctx.onClose = giveBack;
  try {
    return h(req, ctx, sink);
  } catch (err) {
    if (ctx.onClose === giveBack) {
      ctx.onClose = undefined; // nothing gave it back yet
      places.give(address);
    }
    throw err;
  }
}
