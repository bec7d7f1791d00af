import { Code } from "@connectrpc/connect";
import type { CallObserver } from "../protocol/call-observer.js";
import { codeName, httpStatusOf, mapError, OK } from "../protocol/error-mapping.js";
import type { NodeRequest, NodeResponse } from "../protocol/node-http.js";
import { createAddressCounts } from "../protocol/address-counts.js";
import { addressGroupOf } from "../../domain/address-group.js";
import { peerOf } from "../protocol/peer.js";
import { nextCallSeq, REQUEST_ID_HEADER, requestIdOf } from "../protocol/request-id.js";
import type { CallContext } from "../protocol/unary-handlers.js";
import { headerReader, HttpError, readBody, sendError, sendJson } from "./json-http.js";

/** The path GitHub's secret scanning partner program posts to (REST lives under /api/v1). */
export const SECRET_SCANNING_ALERTS_PATH = "/api/v1/secret-scanning/alerts";
/** The method label of the endpoint in metrics and logs. */
export const SECRET_SCANNING_ALERT = "SecretScanningAlert";
/**
 * Alert requests read or handled at once; more are 503 (Retry-After) before their body is read.
 * The body must be held whole before it verifies, so without this anyone reaching the port could
 * hold SECRET_SCANNING_MAX_BODY_BYTES per connection (1 MiB x 256 connections per address).
 * GitHub sends alerts one request at a time per batch and retries a failed one.
 */
export const MAX_ALERTS_IN_FLIGHT = 8;
/**
 * GitHub sends an alert's body at once: one still arriving after this long is a slow sender holding
 * one of the MAX_ALERTS_IN_FLIGHT places (the signature headers cost nothing to forge), so it is
 * answered 408 and its place freed, and 8 trickling strangers cannot keep real alerts out.
 */
export const ALERT_BODY_DEADLINE_MS = 5000;
/**
 * Of the MAX_ALERTS_IN_FLIGHT places, one client address (an IPv6 /64) may hold this many: a
 * sender naming a real key identifier (they are public) cannot take every place from one address.
 * GitHub sends one request at a time per batch from many addresses.
 */
export const MAX_ALERTS_IN_FLIGHT_PER_ADDRESS = 2;
const KEY_ID_HEADER = "github-public-key-identifier";
const SIGNATURE_HEADER = "github-public-key-signature";

/** What the endpoint needs from the service layer (service/secret-scanning-alerts.ts). */
export interface AlertReceiver {
  /** Whether the key list holds this identifier (bounded wait); asked before the body is read. */
  knowsKey(keyIdentifier: string): Promise<boolean>;
  receive(alert: {
    body: Buffer;
    keyIdentifier: string;
    signature: string;
    peer?: string | undefined;
    userAgent?: string | undefined;
  }): Promise<{ verified: false; reason: string } | { verified: true; feedback: readonly unknown[] }>;
}

/**
 * POST /api/v1/secret-scanning/alerts: GitHub's partner format, signed (ECDSA P-256 over the raw
 * body; Github-Public-Key-Identifier, Github-Public-Key-Signature). Without both headers, or with an
 * identifier not in GitHub's key list: 401 before the body is read. Bodies read at once: at most
 * `maxInFlight`, `maxPerAddress` from one client address (IPv6: its /64); more: 503 unread. A body
 * over `maxBodyBytes`: 413. A signature that does not verify: 401, nothing parsed, nothing changed. Verified: 200 with GitHub's feedback array. The store cannot answer: 503
 * (GitHub sends the alert again). No response ever repeats a token.
 */
export function createSecretScanningHandler(
  receiver: AlertReceiver,
  observer: CallObserver,
  maxBodyBytes: number,
  maxInFlight = MAX_ALERTS_IN_FLIGHT,
  bodyDeadlineMs = ALERT_BODY_DEADLINE_MS,
  maxPerAddress = MAX_ALERTS_IN_FLIGHT_PER_ADDRESS,
) {
  let inFlight = 0;
  const byAddress = createAddressCounts();
  const busy = (res: NodeResponse, ctx: CallContext, start: bigint, message: string, headers: object) => {
    observer.end(SECRET_SCANNING_ALERT, Code.Unavailable, start, ctx, message);
    sendError(res, 503, "unavailable", `${message}: retry later`, { "retry-after": "5", ...headers });
  };
  return async (req: NodeRequest, res: NodeResponse): Promise<void> => {
    const start = process.hrtime.bigint();
    const header = headerReader(req); // trimmed as HTTP/1.1 gives it (HTTP/2 keeps padding as sent)
    const ctx: CallContext = {
      bearer: undefined,
      header,
      peer: peerOf(req.socket),
      userAgent: header("user-agent"),
      protocol: "rest",
      seq: nextCallSeq(),
    };
    const idHeader = () => ({ [REQUEST_ID_HEADER]: requestIdOf(ctx) });
    try {
      const keyIdentifier = ctx.header!(KEY_ID_HEADER);
      const signature = ctx.header!(SIGNATURE_HEADER);
      // Each refusal passes its fixed message: a refused call with one logs at debug (call-observer.ts),
      // without one at info, and a stranger sends these for free.
      if (!keyIdentifier || !signature) {
        const message = "missing Github-Public-Key-Identifier or Github-Public-Key-Signature";
        observer.end(SECRET_SCANNING_ALERT, Code.Unauthenticated, start, ctx, message);
        return sendError(res, 401, "unauthenticated", message, idHeader());
      }
      // After the headers: a scanner's GET without them is a 401 (debug), not a 405 (info).
      if (req.method !== "POST") throw new HttpError(405, "method_not_allowed", "use POST");
      // A made-up identifier is refused before the body is read, so it holds no place (attack finding:
      // 8 trickling strangers kept every real alert out). An unknown one may start the bounded reload.
      if (!(await receiver.knowsKey(keyIdentifier))) {
        const message = "unknown public key identifier";
        observer.end(SECRET_SCANNING_ALERT, Code.Unauthenticated, start, ctx, message);
        return sendError(res, 401, "unauthenticated", message, idHeader());
      }
      if (inFlight >= maxInFlight) return busy(res, ctx, start, "too many alerts in flight", idHeader());
      const group = addressGroupOf(req.socket.remoteAddress) ?? "unknown";
      if (maxPerAddress > 0 && byAddress.of(group) >= maxPerAddress)
        return busy(res, ctx, start, "too many alerts in flight from this address", idHeader());
      inFlight++;
      byAddress.add(group);
      let verdict: Awaited<ReturnType<AlertReceiver["receive"]>>;
      try {
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new HttpError(408, "request_timeout", `alert body not received within ${bodyDeadlineMs} ms`)),
            bodyDeadlineMs,
          );
        });
        const body = await Promise.race([readBody(req, maxBodyBytes), late]).finally(() => clearTimeout(timer));
        verdict = await receiver.receive({ body, keyIdentifier, signature, peer: ctx.peer, userAgent: ctx.userAgent });
      } finally {
        inFlight--;
        byAddress.release(group);
      }
      if (!verdict.verified) {
        const message =
          verdict.reason === "unknown_key" ? "unknown public key identifier" : "signature does not verify";
        observer.end(SECRET_SCANNING_ALERT, Code.Unauthenticated, start, ctx, message);
        return sendError(res, 401, "unauthenticated", message, idHeader());
      }
      observer.end(SECRET_SCANNING_ALERT, OK, start, ctx);
      sendJson(res, 200, verdict.feedback, idHeader());
    } catch (err) {
      if (err instanceof HttpError) {
        observer.end(
          SECRET_SCANNING_ALERT,
          err.status === 413
            ? Code.ResourceExhausted
            : err.status === 408
              ? Code.DeadlineExceeded
              : Code.InvalidArgument,
          start,
          ctx,
          err.message,
          true, // before the signature was checked (405, 413, 408, a cut-off body): a stranger's refusal
        );
        return sendError(res, err.status, err.code, err.message, {
          ...(err.status === 405 && { allow: "POST" }),
          ...idHeader(),
        });
      }
      const mapped = mapError(err);
      observer.end(SECRET_SCANNING_ALERT, mapped.code, start, ctx, mapped.unexpected ? err : mapped.message);
      const status = httpStatusOf(mapped.code);
      sendError(res, status, codeName(mapped.code), mapped.message, {
        ...(status === 503 && { "retry-after": "5" }),
        ...idHeader(),
      });
    }
  };
}
