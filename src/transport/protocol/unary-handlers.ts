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
