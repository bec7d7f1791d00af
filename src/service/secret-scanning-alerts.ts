// A secret-scanning alert, from raw bytes to feedback: the signature is checked over the exact body
// bytes with the key its identifier names (GitHub's key list) BEFORE anything reads the body; only
// a verified body is parsed and acted on (domain/exposure-service.ts).
import { MAX_KEY_IDENTIFIER_LENGTH, verifyAlertSignature } from "../domain/alert-signature.js";
import type { ExposureService } from "../domain/exposure-service.js";
import { parseAlertBody, type ExposureFeedback } from "../domain/secret-scanning.js";
import { DomainError } from "../domain/errors.js";
import type { AlertKeySource } from "../ports/alert-keys.js";

export type AlertVerdict =
  | { verified: false; reason: "unknown_key" | "bad_signature" }
  | { verified: true; feedback: ExposureFeedback[] };

/**
 * How long an alert waits on a key-list load its unknown identifier started (at most one per refetch
 * interval). Just over the download's own 2 s bound (alert-key-fetch.ts), so a stalled download
 * ends first and its answer stands (401: the keys already had lack it); only a load that hangs
 * beyond (a stuck file read) reaches this: 503, GitHub retries, the load goes on for the next one.
 * The wait holds no in-flight place: the body is not read yet.
 */
export const KEY_LOOKUP_WAIT_MS = 2500;

export interface SecretScanningReceiver {
  /**
   * Whether the key list holds this identifier, asked BEFORE the body is read (a stranger's made-up
   * identifier is refused without holding a place). May start the at-most-once-per-interval load;
   * waits on it at most KEY_LOOKUP_WAIT_MS. Rejects with DomainError("unavailable") when no answer.
   */
  knowsKey(keyIdentifier: string): Promise<boolean>;
  /** Rejects with DomainError: invalid_argument (a verified body that is not the format), unavailable. */
  receive(alert: {
    body: Buffer;
    keyIdentifier: string;
    signature: string;
    peer?: string | undefined;
    userAgent?: string | undefined;
  }): Promise<AlertVerdict>;
}

export function createSecretScanningReceiver(deps: {
  keys: AlertKeySource;
  exposures: ExposureService;
  keyLookupWaitMs?: number;
}): SecretScanningReceiver {
  const waitMs = deps.keyLookupWaitMs ?? KEY_LOOKUP_WAIT_MS;
  return {
    async knowsKey(keyIdentifier) {
      if (keyIdentifier.length === 0 || keyIdentifier.length > MAX_KEY_IDENTIFIER_LENGTH) return false;
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new DomainError("unavailable", "the secret-scanning key list is loading; retry later")),
          waitMs,
        );
      });
      const key = await Promise.race([deps.keys.key(keyIdentifier), late]).finally(() => clearTimeout(timer));
      return key !== undefined;
    },
    async receive({ body, keyIdentifier, signature, peer, userAgent }) {
      if (keyIdentifier.length === 0 || keyIdentifier.length > MAX_KEY_IDENTIFIER_LENGTH)
        return { verified: false, reason: "unknown_key" };
      const key = await deps.keys.key(keyIdentifier);
      if (!key) return { verified: false, reason: "unknown_key" };
      if (!verifyAlertSignature(body, signature, key)) return { verified: false, reason: "bad_signature" };
      const { reports, unreadable } = parseAlertBody(body);
      return { verified: true, feedback: await deps.exposures.handle(reports, { peer, userAgent }, unreadable) };
    },
  };
}
