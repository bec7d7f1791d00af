// One place that sees the end of every RPC, whatever the transport: one log line (method, code,
// duration, tenant, key id, actor; never a token) and the latency histogram. Introspect logs at
// debug: it is the hot path and its volume would drown every other line at info. A refused call
// (UNAUTHENTICATED, PERMISSION_DENIED) logs at debug too: a stranger sends them for free (a flood
// wrote 33 MB of these lines in 50 s), and the audit trail already records each refusal, counted
// per caller and window (refusal-windows.ts), with its own bounded log line. So does any expected
// failure the transport marks `stranger` (the sender not authenticated yet, e.g. a secret-scanning
// alert whose body is over the limit, cut off or late before its signature could be checked):
// a refusal too, whatever its code, free to send; /metrics still counts each one by code.
import { Code } from "@connectrpc/connect";
import type { Logger } from "pino";
import { codeName, OK } from "./error-mapping.js";
import type { Metrics } from "../../observability/metrics.js";
import type { CallContext } from "./unary-handlers.js";
import { requestIdOf } from "./request-id.js";

const REFUSED: ReadonlySet<Code> = new Set([Code.Unauthenticated, Code.PermissionDenied]);
/** A fast-path call sets no log fields: tenant, key id and actor stay absent, as on Introspect. */
const NO_CONTEXT: CallContext = Object.freeze({ bearer: undefined });

export interface CallObserver {
  /**
   * `error`: the client-facing message of an expected failure, or the unexpected error itself.
   * `stranger`: the sender was not authenticated when the call failed (logged as a refusal).
   */
  end(method: string, code: Code, startNs: bigint, ctx: CallContext, error?: unknown, stranger?: boolean): void;
  /**
   * A call answered OK by a fast path (no context, no BigInt clock): the same histogram series and
   * the same log line as end() gives such a call (debug for a hot method). Absent when the logger is
   * at debug: then every call takes the full path, so its rpc line carries its request id.
   */
  endOk?(method: string, seconds: number): void;
  /**
   * endOk for one method, resolved once (the transport asks at start): per call only the histogram
   * and, for a method that is not hot, the info check. Absent when endOk is.
   */
  okRecorder?(method: string): (seconds: number) => void;
}

export function createCallObserver(
  logger: Logger,
  metrics: Metrics | undefined,
  hotMethods: ReadonlySet<string>,
): CallObserver {
  // method -> code -> histogram child (no per-call key string, no labels() hashing).
  const histograms = new Map<string, ReturnType<Metrics["rpcDuration"]["labels"]>[]>();
  const debugLogged = logger.isLevelEnabled("debug");
  const observer: CallObserver = {
    end(method, code, startNs, ctx, error, stranger) {
      try {
        record(method, code, Number(process.hrtime.bigint() - startNs) / 1e9, ctx, error, stranger);
      } catch {
        // Observability must never fail a call (the work is done; the answer must still go out).
      }
    },
  };
  if (!debugLogged) {
    observer.endOk = (method, seconds) => {
      try {
        record(method, OK, seconds, NO_CONTEXT, undefined);
      } catch {
        // as above
      }
    };
    observer.okRecorder = (method) => {
      // A hot method's OK logs at debug, off here (else no endOk): only its histogram per call,
      // its child made at the first call as record() makes it (the same /metrics series).
      if (!hotMethods.has(method)) return (seconds) => observer.endOk!(method, seconds);
      let h: ReturnType<Metrics["rpcDuration"]["labels"]> | undefined;
      return (seconds) => {
        if (!metrics) return;
        try {
          h ??= histogramOf(method, OK);
          h.observe(seconds);
        } catch {
          // as above
        }
      };
    };
  }
  return observer;

  function histogramOf(method: string, code: Code) {
    let byCode = histograms.get(method);
    if (!byCode) histograms.set(method, (byCode = []));
    return (byCode[code] ??= metrics!.rpcDuration.labels(method, codeName(code)));
  }

  function record(
    method: string,
    code: Code,
    seconds: number,
    ctx: CallContext,
    error: unknown,
    stranger?: boolean,
  ): void {
    if (metrics) histogramOf(method, code).observe(seconds);
    const level =
      error !== undefined && typeof error !== "string"
        ? "error"
        : error !== undefined
          ? REFUSED.has(code) || stranger === true
            ? "debug"
            : "info"
          : hotMethods.has(method)
            ? "debug"
            : "info";
    if (!logger.isLevelEnabled(level)) return;
    logger[level](
      {
        rpc: method,
        code: codeName(code),
        ms: Math.round(seconds * 1e6) / 1000,
        tenant: ctx.tenantId,
        key_id: ctx.keyId,
        actor: ctx.actor,
        request_id: requestIdOf(ctx),
        ...(typeof error === "string" ? { error } : error ? { err: error } : {}),
      },
      "rpc",
    );
  }
}
