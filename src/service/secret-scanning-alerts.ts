// A secret-scanning alert, from raw bytes to feedback: the signature is checked over the exact body
// bytes with the key its identifier names (GitHub's key list) BEFORE anything reads the body; only
// a verified body is parsed and acted on (domain/exposure-service.ts).
import { MAX_KEY_IDENTIFIER_LENGTH, verifyAlertSignature } from "../domain/alert-signature.js";
import type { ExposureService } from "../domain/exposure-service.js";
import { parseAlertBody, type ExposureFeedback } from "../domain/secret-scanning.js";
import type { AlertKeySource } from "../ports/alert-keys.js";

export type AlertVerdict =
  | { verified: false; reason: "unknown_key" | "bad_signature" }
  | { verified: true; feedback: ExposureFeedback[] };

export interface SecretScanningReceiver {
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
}): SecretScanningReceiver {
  return {
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
