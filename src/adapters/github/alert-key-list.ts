// GitHub's secret-scanning key list (https://api.github.com/meta/public_keys/secret_scanning):
// {"public_keys": [{"key_identifier": "<hex>", "key": "<PEM>", "is_current": true}, ...]}.
// Every listed key verifies (is_current only says which one GitHub signs new alerts with: alerts
// signed just before a rotation still arrive). Each must be an EC P-256 public key.
import { createPublicKey, type KeyObject } from "node:crypto";

export const MAX_ALERT_KEYS = 32;

export class KeyListError extends Error {}

export function parseAlertKeyList(text: string): Map<string, KeyObject> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new KeyListError("not valid JSON");
  }
  const list = (doc as { public_keys?: unknown } | null)?.public_keys;
  if (!Array.isArray(list) || list.length === 0) throw new KeyListError('"public_keys" must be a non-empty array');
  if (list.length > MAX_ALERT_KEYS) throw new KeyListError(`more than ${MAX_ALERT_KEYS} keys`);
  const keys = new Map<string, KeyObject>();
  for (const [i, entry] of list.entries()) {
    const e = entry as { key_identifier?: unknown; key?: unknown } | null;
    if (typeof e !== "object" || e === null) throw new KeyListError(`public_keys[${i}] is not an object`);
    if (typeof e.key_identifier !== "string" || !/^[0-9A-Za-z_-]{1,256}$/.test(e.key_identifier))
      throw new KeyListError(`public_keys[${i}].key_identifier must be 1-256 characters [0-9A-Za-z_-]`);
    if (typeof e.key !== "string") throw new KeyListError(`public_keys[${i}].key must be a PEM string`);
    // createPublicKey would derive the public half of a private key: a list holding one is a mistake.
    if (e.key.includes("PRIVATE KEY"))
      throw new KeyListError(`public_keys[${i}].key is a private key: public keys only`);
    let key: KeyObject;
    try {
      key = createPublicKey(e.key);
    } catch {
      throw new KeyListError(`public_keys[${i}].key is not a PEM public key`);
    }
    if (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== "prime256v1")
      throw new KeyListError(`public_keys[${i}].key is not an EC P-256 key`);
    keys.set(e.key_identifier, key);
  }
  return keys;
}
