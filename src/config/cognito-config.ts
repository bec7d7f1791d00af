// Cognito sign-in for tenant administrators: COGNITO_USER_POOL_ID, COGNITO_CLIENT_ID,
// COGNITO_TOKEN_USE, COGNITO_TENANT_CLAIM, COGNITO_ADMIN_GROUP, COGNITO_JWKS_FILE.
import { ConfigError, list, type Env } from "./env.js";

export const DEFAULT_COGNITO_ADMIN_GROUP = "tenant-admins";

export interface CognitoConfig {
  userPoolIds: string[];
  clientIds: string[];
  tokenUse: "access" | "id";
  tenantClaim: string;
  adminGroup: string;
  jwksFile?: string | undefined;
}

/**
 * A Cognito user pool id, exactly as aws-jwt-verify parses it (region, "_", id), so that every id
 * accepted here is accepted by the verifier (e.g. us-gov-west-1_x, eusc-de-east-1_x).
 */
const USER_POOL_ID = /^(?:eusc-[a-z]{2}|[a-z]{2})-(?:gov-)?[a-z]+-\d_[a-zA-Z0-9]+$/;

/** Undefined when no user pool is configured (Cognito sign-in off). */
export function loadCognitoConfig(env: Env): CognitoConfig | undefined {
  // Deduplicated: aws-jwt-verify refuses an issuer configured twice.
  const pools = [...new Set(list(env.COGNITO_USER_POOL_ID))];
  if (pools.length === 0) return undefined;
  pools.forEach((p, i) => {
    if (!USER_POOL_ID.test(p)) {
      throw new ConfigError("COGNITO_USER_POOL_ID", `entry ${i + 1} is not a user pool id like us-east-1_AbCdEf`);
    }
  });
  const clientIds = [...new Set(list(env.COGNITO_CLIENT_ID))];
  if (clientIds.length === 0)
    throw new ConfigError("COGNITO_CLIENT_ID", "is required when COGNITO_USER_POOL_ID is set");
  const tokenUse = env.COGNITO_TOKEN_USE || "access";
  if (tokenUse !== "access" && tokenUse !== "id") throw new ConfigError("COGNITO_TOKEN_USE", "must be access or id");
  return {
    userPoolIds: pools,
    clientIds,
    tokenUse,
    tenantClaim: (env.COGNITO_TENANT_CLAIM ?? "").trim() || "custom:tenant_id",
    adminGroup: env.COGNITO_ADMIN_GROUP || DEFAULT_COGNITO_ADMIN_GROUP,
    jwksFile: env.COGNITO_JWKS_FILE || undefined,
  };
}
