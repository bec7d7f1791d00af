// Reads COGNITO_JWKS_FILE. Two shapes are accepted:
// - a JWKS, `{"keys": [...]}` (what https://cognito-idp.<region>.amazonaws.com/<pool>/.well-known/jwks.json
//   serves): used for every configured pool;
// - an object keyed by user pool id, `{"us-east-1_AbC": {"keys": [...]}, ...}`: one JWKS per pool;
//   every configured pool must be present (entries for other pools are ignored).
// Every key must be an RSA signing key with a kid that node:crypto can load, so a bad file fails at
// start with one line naming the variable, never at the first login.
import { createPublicKey } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Jwks } from "aws-jwt-verify/jwk";
import { ConfigError } from "../../config.js";
import { COGNITO_ALG } from "./jwt-header.js";

/** Cognito signs with 2048-bit RSA keys; anything shorter in the file is a mistake (or worse). */
const MIN_RSA_BITS = 2048;

export function loadJwksFile(path: string, userPoolIds: readonly string[]): Map<string, Jwks> {
  const fail = (msg: string): never => {
    throw new ConfigError("COGNITO_JWKS_FILE", `${path}: ${msg}`);
  };
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    return fail(
      (err as NodeJS.ErrnoException).code === "ENOENT"
        ? "no such file"
        : `not readable JSON (${(err as Error).message})`,
    );
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc))
    return fail('must be a JWKS ({"keys": [...]}) or an object keyed by user pool id');

  const out = new Map<string, Jwks>();
  if ("keys" in doc) {
    const jwks = checkJwks(doc, "", fail);
    for (const pool of userPoolIds) out.set(pool, jwks);
    return out;
  }
  const byPool = doc as Record<string, unknown>;
  for (const pool of userPoolIds) {
    if (!Object.hasOwn(byPool, pool)) fail(`has no JWKS for user pool ${pool}`);
    out.set(pool, checkJwks(byPool[pool], `${pool}: `, fail));
  }
  return out;
}

function checkJwks(value: unknown, where: string, fail: (msg: string) => never): Jwks {
  const keys = (value as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0) return fail(`${where}"keys" must be a non-empty array`);
  const kids = new Set<string>();
  for (const [i, k] of keys.entries()) {
    const key = k as Record<string, unknown> | null;
    if (typeof key !== "object" || key === null) fail(`${where}keys[${i}] is not an object`);
    if (key!.kty !== "RSA") fail(`${where}keys[${i}]: kty must be RSA`);
    if ("d" in key!) fail(`${where}keys[${i}] is a private key: the file must hold public keys only`);
    if (typeof key!.kid !== "string" || key!.kid === "") fail(`${where}keys[${i}]: kid is required`);
    if (key!.use !== undefined && key!.use !== "sig") fail(`${where}keys[${i}]: use must be sig`);
    if (key!.alg !== undefined && key!.alg !== COGNITO_ALG) fail(`${where}keys[${i}]: alg must be ${COGNITO_ALG}`);
    if (kids.has(key!.kid as string)) fail(`${where}keys[${i}]: duplicate kid ${key!.kid as string}`);
    kids.add(key!.kid as string);
    let bits = 0;
    try {
      bits = createPublicKey({ key: key as never, format: "jwk" }).asymmetricKeyDetails?.modulusLength ?? 0;
    } catch (err) {
      fail(`${where}keys[${i}] (kid ${key!.kid as string}) is not a usable RSA public key: ${(err as Error).message}`);
    }
    if (bits < MIN_RSA_BITS)
      fail(
        `${where}keys[${i}] (kid ${key!.kid as string}) is not a usable RSA public key: ${bits}-bit modulus, need ${MIN_RSA_BITS}`,
      );
  }
  return value as Jwks;
}
