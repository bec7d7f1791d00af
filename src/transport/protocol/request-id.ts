// The per-call request id of the log lines (the rpc line, audit lines, /authz lines) and of the
// `x-request-id` response header. A call costs one counter increment (`nextCallSeq`, taken by
// every transport); the id string is made only when a line or a header needs it (`requestIdOf`):
// the caller's own `x-request-id` when it is well formed (a gateway's, e.g. Envoy's UUID, to join
// logs across hops), else this process's random prefix and the call's sequence number.
import { randomBytes } from "node:crypto";
import type { CallContext } from "./unary-handlers.js";

export const REQUEST_ID_HEADER = "x-request-id";

/** 8 random characters per process, so ids of replicas never collide. */
const PREFIX = randomBytes(6).toString("base64url");
let seq = 0;

/** The only per-call cost on the hot path. */
export const nextCallSeq = (): number => ++seq;

/**
 * An incoming id is taken only when it is short, plain and cannot be a credential: at most 64 of
 * `A-Z a-z 0-9 . _ : -`, no run of more than 32 letters and digits (a token's body is 38; a UUID's
 * longest is 12, a W3C trace id's 32), and not starting like a token (`wf_`, `sess_`, `eyJ`). Anything
 * else is ignored, never echoed or logged.
 */
const WELL_FORMED = /^[A-Za-z0-9._:-]{1,64}$/;
const LONG_RUN = /[A-Za-z0-9]{33}/;
const TOKEN_LIKE = /wf_|sess_|eyJ|bearer/i;

export function wellFormedRequestId(value: string | undefined): value is string {
  return value !== undefined && WELL_FORMED.test(value) && !LONG_RUN.test(value) && !TOKEN_LIKE.test(value);
}

/** The call's id, made (and kept on ctx) on first use. */
export function requestIdOf(ctx: CallContext): string {
  if (ctx.requestId !== undefined) return ctx.requestId;
  const incoming = ctx.header?.(REQUEST_ID_HEADER);
  ctx.requestId = wellFormedRequestId(incoming) ? incoming : `${PREFIX}-${(ctx.seq ?? nextCallSeq()).toString(36)}`;
  return ctx.requestId;
}
