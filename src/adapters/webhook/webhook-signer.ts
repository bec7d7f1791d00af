// Standard Webhooks signatures, by the `standardwebhooks` library: `v1,<base64 HMAC-SHA256 of
// id.timestamp.body>` per secret, space-separated when a rotated secret is still in its overlap
// (receivers accept a message when any signature matches: https://www.standardwebhooks.com/).
import { Webhook } from "standardwebhooks";

export function signatureHeader(secrets: readonly string[], id: string, timestamp: Date, body: string): string {
  return secrets.map((s) => new Webhook(s).sign(id, timestamp, body)).join(" ");
}
