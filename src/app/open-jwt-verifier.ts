import type { Logger } from "pino";
import { createCognitoJwtVerifier } from "../adapters/cognito/cognito-jwt-verifier.js";
import type { CognitoConfig } from "../config.js";
import type { JwtVerifier } from "../ports/jwt-verifier.js";

export async function createJwtVerifier(config: CognitoConfig, logger: Logger): Promise<JwtVerifier> {
  logger.info(
    { pools: config.userPoolIds, token_use: config.tokenUse, jwks_file: Boolean(config.jwksFile) },
    "Cognito JWTs: on",
  );
  return createCognitoJwtVerifier(config, logger);
}
