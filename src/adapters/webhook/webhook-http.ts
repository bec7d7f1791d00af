// One webhook delivery over HTTP(S), bounded: lookup + connect + response within `timeoutMs`, at most
// `maxResponseBytes` of the response read (and discarded; more closes the connection), no redirect
// followed (a 3xx is a failure), no connection reuse, and the socket connects only to an address the
// destination guard checked. Answers the outcome; never throws. A failure's text names the status
// or the kind of error, never a response body or a header value.
import http from "node:http";
import https from "node:https";
import type { LookupFunction } from "node:net";
import { DestinationRefusedError, type DestinationGuard } from "./destination-guard.js";

export type DeliveryOutcome = { ok: true; status: number } | { ok: false; failure: string; refused?: boolean };

/** `signal`: the caller gives up (shutdown); the attempt ends as a failure ("aborted"). */
export type Deliver = (
  url: string,
  headers: Record<string, string>,
  body: string,
  signal?: AbortSignal,
) => Promise<DeliveryOutcome>;

export function createHttpDelivery(opts: {
  guard: DestinationGuard;
  timeoutMs: number;
  maxResponseBytes: number;
  userAgent?: string;
}): Deliver {
  return async (rawUrl, headers, body, signal) => {
    let url: URL;
    try {
      url = new URL(rawUrl);
    } catch {
      return { ok: false, failure: "invalid URL" };
    }
    const timeout = AbortSignal.timeout(opts.timeoutMs);
    const deadline = signal ? AbortSignal.any([timeout, signal]) : timeout;
    const failure = () => (signal?.aborted ? "aborted (shutdown)" : "timeout");
    let dest;
    try {
      // The deadline covers the lookup too: a resolver that is slow to answer does not hold the attempt.
      dest = await untilAborted(opts.guard.resolve(url.hostname), deadline);
      if (dest === undefined) return { ok: false, failure: failure() };
    } catch (err) {
      if (err instanceof DestinationRefusedError) return { ok: false, failure: err.message, refused: true };
      return { ok: false, failure: "destination lookup failed" };
    }
    if (deadline.aborted) return { ok: false, failure: failure() };
    // The checked address, whatever the resolver would answer now (no second lookup: no rebinding).
    const pinned: LookupFunction = (_host, options, cb) => {
      if ((options as { all?: boolean }).all) (cb as unknown as (e: null, a: object[]) => void)(null, [dest]);
      else cb(null, dest.address, dest.family);
    };
    const client = url.protocol === "https:" ? https : http;
    return new Promise<DeliveryOutcome>((resolve) => {
      let settled = false;
      const done = (o: DeliveryOutcome) => {
        if (settled) return;
        settled = true;
        deadline.removeEventListener("abort", onDeadline);
        resolve(o);
      };
      // Whatever the parser did, the deadline ends the attempt.
      const onDeadline = () => {
        req.destroy();
        done({ ok: false, failure: failure() });
      };
      const req = client.request(
        url,
        {
          method: "POST",
          agent: false,
          lookup: pinned,
          signal: deadline,
          headers: {
            "content-type": "application/json",
            "content-length": String(Buffer.byteLength(body)),
            "user-agent": opts.userAgent ?? "warpflow-webhooks/1",
            ...headers,
          },
        },
        (res) => {
          const status = res.statusCode ?? 0;
          let read = 0;
          res.on("data", (chunk: Buffer) => {
            read += chunk.length;
            if (read > opts.maxResponseBytes) {
              res.destroy();
              req.destroy();
              done(status >= 200 && status < 300 ? { ok: true, status } : { ok: false, failure: `HTTP ${status}` });
            }
          });
          res.on("end", () =>
            done(status >= 200 && status < 300 ? { ok: true, status } : { ok: false, failure: `HTTP ${status}` }),
          );
          res.on("error", () => done({ ok: false, failure: deadline.aborted ? failure() : "response aborted" }));
        },
      );
      req.on("error", (err: NodeJS.ErrnoException) =>
        done({ ok: false, failure: deadline.aborted ? failure() : `connection failed (${err.code ?? "error"})` }),
      );
      // A 101 (Switching Protocols) emits neither "response" nor "error": the connection is not
      // ours to keep, and without these the attempt would never settle (the whole sender waiting on it).
      req.on("upgrade", (res, socket) => {
        socket.destroy();
        done({ ok: false, failure: `HTTP ${res.statusCode ?? 0}` });
      });
      // A request closed without an outcome (after the response's own events had their turn) failed.
      req.on("close", () =>
        setImmediate(() => done({ ok: false, failure: deadline.aborted ? failure() : "connection closed" })),
      );
      deadline.addEventListener("abort", onDeadline, { once: true });
      req.end(body);
    });
  };
}

/** `work`'s answer, or undefined once `signal` aborts first. */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T | undefined> {
  if (signal.aborted) return Promise.resolve(undefined);
  return new Promise<T | undefined>((resolve, reject) => {
    const onAbort = () => resolve(undefined);
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err as Error);
      },
    );
  });
}
