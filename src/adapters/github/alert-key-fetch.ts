// Downloads the secret-scanning key list: one HTTPS GET, bounded in time (connect + whole response)
// and in size, no redirects, no retries (the cache in alert-key-cache.ts decides when to ask again).
import * as https from "node:https";
import * as tls from "node:tls";

export const KEY_LIST_FETCH_TIMEOUT_MS = 2000;
/** GitHub's list is ~1 KB; anything near this bound is not a key list. */
export const KEY_LIST_MAX_BYTES = 64 * 1024;

export interface KeyListFetchOptions {
  timeoutMs?: number;
  maxBytes?: number;
  /** Extra trusted CA certificates (PEM) for a private mirror; Node's bundled CAs stay trusted. */
  ca?: string | undefined;
}

export function fetchKeyList(url: string, opts: KeyListFetchOptions = {}): Promise<string> {
  const timeoutMs = opts.timeoutMs ?? KEY_LIST_FETCH_TIMEOUT_MS;
  const maxBytes = opts.maxBytes ?? KEY_LIST_MAX_BYTES;
  return new Promise((resolve, reject) => {
    const req = https.get(
      url,
      {
        headers: { accept: "application/json", "user-agent": "warpflow-token-service" },
        timeout: timeoutMs,
        // Setting `ca` replaces Node's bundled roots: keep them, add the extra one.
        ...(opts.ca !== undefined && { ca: [...tls.rootCertificates, opts.ca] }),
      },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          return fail(new Error(`key list: HTTP ${res.statusCode ?? "?"}`));
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (c: Buffer) => {
          size += c.length;
          if (size > maxBytes) return fail(new Error(`key list: response over ${maxBytes} bytes`));
          chunks.push(c);
        });
        res.on("end", () => {
          clearTimeout(deadline);
          resolve(Buffer.concat(chunks).toString("utf8"));
        });
        res.on("error", fail);
      },
    );
    // `timeout` above is the socket's idle time; this bounds the whole exchange.
    const deadline = setTimeout(
      () => fail(new Error(`key list: no complete answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
    deadline.unref();
    req.on("timeout", () => fail(new Error(`key list: no answer within ${timeoutMs} ms`)));
    req.on("error", fail);
    function fail(err: Error): void {
      clearTimeout(deadline);
      req.destroy();
      reject(err);
    }
  });
}
