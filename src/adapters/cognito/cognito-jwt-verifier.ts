import type { Logger } from "pino";
import type { CognitoConfig } from "../../config.js";
import type { JwtVerifier } from "../../ports/jwt-verifier.js";

/** Placeholder until the Cognito adapter lands (issue 4). */
export async function createCognitoJwtVerifier(_config: CognitoConfig, _logger: Logger): Promise<JwtVerifier> {
  throw new Error("Cognito adapter not implemented yet");
}
