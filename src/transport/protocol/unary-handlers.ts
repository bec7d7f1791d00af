import type { DescMethodUnary, DescService, MessageShape } from "@bufbuild/protobuf";

/** What a handler learns about its call, whatever the transport. Handlers fill in the log fields. */
export interface CallContext {
  /** The bearer token from `authorization`, if any. Never logged. */
  bearer: string | undefined;
  signal?: AbortSignal | undefined;
  /** A request header / metadata value (lower-case name). Set by every transport. */
  header?: (name: string) => string | undefined;
  /** Did the peer present a client certificate that verified against the configured CA? */
  clientCertVerified?: () => boolean;
  /** Log fields set by the handler: who acted, on which tenant and key. */
  actor?: string | undefined;
  tenantId?: string | undefined;
  keyId?: string | undefined;
  /** For the audit trail, set by every transport: the caller's ip:port, user agent, protocol. */
  peer?: string | undefined;
  userAgent?: string | undefined;
  /** "grpc", "grpc-web", "connect" or "rest". */
  protocol?: string | undefined;
  /** This call's number in the process (request-id.ts: the only per-call cost of the request id). */
  seq?: number | undefined;
  /** The request id, once made by requestIdOf (a log line or a response header needed it). */
  requestId?: string | undefined;
}

type UnaryMethods<S extends DescService> = {
  [K in keyof S["method"] as S["method"][K] extends DescMethodUnary ? K : never]: S["method"][K];
};

/** A transport-neutral implementation of every unary method of a service. */
export type UnaryHandlers<S extends DescService> = {
  [K in keyof UnaryMethods<S>]: UnaryMethods<S>[K] extends DescMethodUnary<infer I, infer O>
    ? (req: MessageShape<I>, ctx: CallContext) => Promise<MessageShape<O>>
    : never;
};

/** What a fast path answers: `encoded` is the transport's slot for the response's bytes, kept with the answer. */
export interface FastAnswer {
  encoded: unknown;
}

/**
 * A synchronous answer for a hot unary method, tried by a transport before the handler (which
 * stays the reference: same result, same side effects). No context object, no promise.
 */
export interface FastUnary<A extends FastAnswer = FastAnswer> {
  /** The answer, or undefined to run the handler instead (not cached, or anything unusual). */
  answer(req: unknown): A | undefined;
  /** The response message of an answer (a transport encodes it once per answer). */
  message(answer: A): unknown;
}

/** Handlers may carry fast paths by method local name under this key (see grpc-server.ts). */
export const FAST_UNARY: unique symbol = Symbol("warpflow.fastUnary");
export type WithFastUnary = { [FAST_UNARY]?: Record<string, FastUnary> };
