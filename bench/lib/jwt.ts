import { createSign, generateKeyPairSync, randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";

/**
 * A local Cognito stand-in: an RSA key pair, its JWKS written to a file (COGNITO_JWKS_FILE), and
 * RS256 access tokens shaped like Cognito's, signed with node:crypto. No network.
 */
export interface LocalCognito {
  userPoolId: string;
  clientId: string;
  jwksFile: string;
  sign(claims: { sub: string; tenantId: string; groups?: string[]; username?: string; ttlSeconds?: number }): string;
}

const b64url = (v: string | Buffer) => Buffer.from(v).toString("base64url");

export function createLocalCognito(jwksFile: string, region = "us-east-1"): LocalCognito {
  const userPoolId = `${region}_BenchPool1`;
  const clientId = "benchclient0123456789abcd";
  const kid = "bench-key-1";
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const jwk = { ...publicKey.export({ format: "jwk" }), kid, alg: "RS256", use: "sig" };
  writeFileSync(jwksFile, JSON.stringify({ keys: [jwk] }));
  const iss = `https://cognito-idp.${region}.amazonaws.com/${userPoolId}`;
  return {
    userPoolId,
    clientId,
    jwksFile,
    sign({ sub, tenantId, groups = ["users"], username = sub, ttlSeconds = 3600 }) {
      const now = Math.floor(Date.now() / 1000);
      const header = { kid, alg: "RS256" };
      const payload = {
        sub,
        "cognito:groups": groups,
        iss,
        client_id: clientId,
        origin_jti: randomUUID(),
        event_id: randomUUID(),
        token_use: "access",
        scope: "aws.cognito.signin.user.admin",
        auth_time: now,
        exp: now + ttlSeconds,
        iat: now,
        jti: randomUUID(),
        username,
        "custom:tenant_id": tenantId,
      };
      const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
      const signature = createSign("RSA-SHA256").update(input).sign(privateKey);
      return `${input}.${b64url(signature)}`;
    },
  };
}
