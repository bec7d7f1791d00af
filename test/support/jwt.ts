import { createSign, generateKeyPairSync, type KeyObject } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import https from "node:https";
import http from "node:http";
import { syncBuiltinESMExports } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * Cognito-shaped JWTs signed with locally generated RSA keys (node:crypto, RS256): no AWS, no
 * network. A TestKey is a key pair plus its public JWK; jwksOf() builds what Cognito serves at
 * /.well-known/jwks.json.
 */
export const POOL_ID = "us-east-1_TestPool1";
export const POOL_ID_2 = "eu-west-1_TestPool2";
export const CLIENT_ID = "4tc1ientidf0rtest5abcdefgh";
export const issuerOf = (poolId: string) => `https://cognito-idp.${poolId.split("_")[0]}.amazonaws.com/${poolId}`;

export interface TestKey {
  kid: string;
  privateKey: KeyObject;
  publicJwk: Record<string, string>;
}

export function createTestKey(kid = `kid-${Math.random().toString(36).slice(2, 10)}`): TestKey {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const jwk = publicKey.export({ format: "jwk" }) as Record<string, string>;
  return { kid, privateKey, publicJwk: { ...jwk, kid, alg: "RS256", use: "sig" } };
}

export const jwksOf = (...keys: TestKey[]) => ({ keys: keys.map((k) => k.publicJwk) });

const b64url = (v: unknown) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");

/** Signs header.payload with RS256. `header` overrides the default {alg, kid, typ}. */
export function signJwt(key: TestKey, payload: Record<string, unknown>, header: Record<string, unknown> = {}): string {
  const input = `${b64url({ alg: "RS256", kid: key.kid, typ: "JWT", ...header })}.${b64url(payload)}`;
  const signature = createSign("RSA-SHA256").update(input).sign(key.privateKey).toString("base64url");
  return `${input}.${signature}`;
}

/** An unsigned token: {"alg":"none"} and an empty signature. */
export function unsignedJwt(payload: Record<string, unknown>, kid = "whatever"): string {
  return `${b64url({ alg: "none", kid, typ: "JWT" })}.${b64url(payload)}.`;
}

export interface ClaimOptions {
  tenantId?: string | undefined;
  sub?: string;
  groups?: string[] | undefined;
  poolId?: string;
  clientId?: string;
  tokenUse?: "access" | "id";
  /** Seconds from now (real time: aws-jwt-verify checks exp against Date.now()). */
  expiresIn?: number;
  extra?: Record<string, unknown>;
}

/** A payload shaped like Cognito's (access: client_id + username; id: aud + cognito:username). */
export function cognitoClaims(o: ClaimOptions = {}): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  const tokenUse = o.tokenUse ?? "access";
  const sub = o.sub ?? "7f1c2a9e-0d3b-4c55-9a61-2b8e4f0c1d23";
  const base: Record<string, unknown> = {
    sub,
    iss: issuerOf(o.poolId ?? POOL_ID),
    token_use: tokenUse,
    auth_time: now - 60,
    iat: now - 60,
    exp: now + (o.expiresIn ?? 3600),
    jti: `jti-${sub.slice(0, 8)}-${now}`,
    origin_jti: "origin-jti",
    email: "dana@acme.example",
    ...(o.groups === undefined ? {} : { "cognito:groups": o.groups }),
    ...(o.tenantId === undefined ? {} : { "custom:tenant_id": o.tenantId }),
  };
  if (tokenUse === "access") {
    Object.assign(base, {
      client_id: o.clientId ?? CLIENT_ID,
      scope: "aws.cognito.signin.user.admin",
      username: "dana",
    });
  } else {
    Object.assign(base, { aud: o.clientId ?? CLIENT_ID, "cognito:username": "dana", email_verified: true });
  }
  return { ...base, ...o.extra };
}

/** Writes a JSON document to a fresh temp file and returns its path. */
export function writeTempJson(doc: unknown, name = "jwks.json"): string {
  const path = join(mkdtempSync(join(tmpdir(), "wf-jwks-")), name);
  writeFileSync(path, JSON.stringify(doc));
  return path;
}

/**
 * Makes every outbound HTTP(S) request fail loudly and counts the attempts: https.request /
 * https.get (what aws-jwt-verify's Node fetcher uses), http.request / http.get, and global fetch.
 * Loopback gRPC (http2) is untouched. Call restore() in a finally / afterEach.
 */
export function blockNetwork(): { attempts: () => number; restore(): void } {
  let attempts = 0;
  const refuse = () => {
    attempts++;
    throw new Error("network access is blocked in this test");
  };
  const saved = { hr: https.request, hg: https.get, r: http.request, g: http.get, f: globalThis.fetch };
  https.request = refuse as typeof https.request;
  https.get = refuse as typeof https.get;
  http.request = refuse as typeof http.request;
  http.get = refuse as typeof http.get;
  globalThis.fetch = (async () => refuse()) as typeof fetch;
  syncBuiltinESMExports();
  return {
    attempts: () => attempts,
    restore() {
      https.request = saved.hr;
      https.get = saved.hg;
      http.request = saved.r;
      http.get = saved.g;
      globalThis.fetch = saved.f;
      syncBuiltinESMExports();
    },
  };
}

/** The COGNITO_* environment of a service that trusts POOL_ID / CLIENT_ID with keys from a file. */
export function cognitoEnv(jwksFile: string, extra: Record<string, string> = {}): Record<string, string> {
  return { COGNITO_USER_POOL_ID: POOL_ID, COGNITO_CLIENT_ID: CLIENT_ID, COGNITO_JWKS_FILE: jwksFile, ...extra };
}

/** A fresh signing key and the env of a service that trusts it alone (COGNITO_JWKS_FILE). */
export function cognitoKeyEnv(extra: Record<string, string> = {}): { key: TestKey; env: Record<string, string> } {
  const key = createTestKey();
  return { key, env: cognitoEnv(writeTempJson(jwksOf(key)), extra) };
}
