import { verify } from "node:crypto";
import { describe, expect, it } from "vitest";
import { verifyAlertSignature } from "../../src/domain/alert-signature.js";
import { parseAlertKeyList } from "../../src/adapters/github/alert-key-list.js";

/**
 * GitHub's own sample alert (docs: "Secret scanning partner program", section "Create a secret alert
 * service": the sample POST and the test public key it was signed with). A verifier written from the
 * description alone could still disagree with GitHub on the signature encoding (DER vs raw r||s),
 * the hash or the bytes signed; this sample settles it.
 */
const GITHUB_TEST_KEY = `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEsz9ugWDj5jK5ELBK42ynytbo38gP
HzZFI03Exwz8Lh/tCfL3YxwMdLjB+bMznsanlhK0RwcGP3IDb34kQDIo3Q==
-----END PUBLIC KEY-----`;
const IDENTIFIER = "f9525bf080f75b3506ca1ead061add62b8633a346606dc5fe544e29231c6ee0d";
const SIGNATURE = "MEUCIFLZzeK++IhS+y276SRk2Pe5LfDrfvTXu6iwKKcFGCrvAiEAhHN2kDOhy2I6eGkOFmxNkOJ+L2y8oQ9A2T9GGJo6WJY=";
const BODY = '[{"token":"some_token","type":"some_type","url":"some_url","source":"some_source"}]';

describe("GitHub's published sample alert", () => {
  const keys = parseAlertKeyList(
    JSON.stringify({ public_keys: [{ key_identifier: IDENTIFIER, key: GITHUB_TEST_KEY, is_current: true }] }),
  );
  const key = keys.get(IDENTIFIER)!;

  it("verifies over the exact body bytes", () => {
    expect(verifyAlertSignature(Buffer.from(BODY), SIGNATURE, key)).toBe(true);
  });

  it("does not verify with any other body, signature or key", () => {
    expect(verifyAlertSignature(Buffer.from(`${BODY}\n`), SIGNATURE, key)).toBe(false);
    expect(verifyAlertSignature(Buffer.from(JSON.stringify(JSON.parse(BODY), null, 1)), SIGNATURE, key)).toBe(false);
    expect(verifyAlertSignature(Buffer.from(BODY.replace("some_token", "some_tokeN")), SIGNATURE, key)).toBe(false);
    const flipped = Buffer.from(SIGNATURE, "base64");
    flipped[flipped.length - 1]! ^= 1;
    expect(verifyAlertSignature(Buffer.from(BODY), flipped.toString("base64"), key)).toBe(false);
    expect(verifyAlertSignature(Buffer.from(BODY), "", key)).toBe(false);
    expect(verifyAlertSignature(Buffer.from(BODY), "not base64!", key)).toBe(false);
    expect(verifyAlertSignature(Buffer.from(BODY), "A".repeat(300), key)).toBe(false);
    // The same signature as raw r||s (IEEE P1363, what some libraries produce): not what GitHub sends.
    const der = Buffer.from(SIGNATURE, "base64");
    const rLen = der[3]!;
    const r = der.subarray(4, 4 + rLen);
    const sig = der.subarray(6 + rLen);
    const raw = Buffer.concat([r.subarray(r.length - 32), sig.subarray(sig.length - 32)]);
    expect(verify("sha256", Buffer.from(BODY), { key, dsaEncoding: "ieee-p1363" }, raw)).toBe(true); // it is the same signature
    expect(verifyAlertSignature(Buffer.from(BODY), raw.toString("base64"), key)).toBe(false);
  });
});
