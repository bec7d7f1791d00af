// GitHub's secret scanning partner program from the sender's side, for tests: a locally generated
// P-256 key, its key list ({"public_keys": [...]}), alert bodies and signed POSTs.
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from "node:crypto";

export const ALERTS_PATH = "/api/v1/secret-scanning/alerts";

export interface Signer {
  id: string;
  privateKey: KeyObject;
  publicPem: string;
}

export function newSigner(id = randomBytes(32).toString("hex")): Signer {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  return { id, privateKey, publicPem: publicKey.export({ type: "spki", format: "pem" }).toString() };
}

export const keyList = (...signers: Signer[]): string =>
  JSON.stringify({
    public_keys: signers.map((s, i) => ({ key_identifier: s.id, key: s.publicPem, is_current: i === 0 })),
  });

/** base64 ASN.1 DER ECDSA P-256 / SHA-256 over the exact bytes, as GitHub signs. */
export const signBody = (body: string | Buffer, signer: Signer): string =>
  sign("sha256", Buffer.from(body), { key: signer.privateKey, dsaEncoding: "der" }).toString("base64");

export interface Match {
  token: string;
  type?: string;
  url?: string;
  source?: string;
}

export const alertBody = (matches: Match[]): string =>
  JSON.stringify(
    matches.map((m) => ({
      token: m.token,
      type: m.type ?? "warpflow_api_key",
      url: m.url ?? "https://github.com/octo/leaky/blob/0123abc/.env",
      source: m.source ?? "content",
    })),
  );

export const sha256Hex = (token: string) => createHash("sha256").update(token).digest("hex");

export interface AlertAnswer {
  status: number;
  text: string;
  json: unknown;
}

/** POSTs `body` to the alert endpoint, signed by `signer` unless `headers` says otherwise. */
export async function postAlert(
  baseUrl: string,
  body: string | Buffer,
  signer: Signer | undefined,
  headers: Record<string, string> = {},
): Promise<AlertAnswer> {
  const res = await fetch(`${baseUrl}${ALERTS_PATH}`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(signer && {
        "github-public-key-identifier": signer.id,
        "github-public-key-signature": signBody(body, signer),
      }),
      ...headers,
    },
    body,
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json };
}
