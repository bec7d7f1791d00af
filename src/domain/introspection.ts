/** The result of introspecting a token: an expected outcome, never an exception. */
export type TokenType = "api_key" | "session" | "cognito";

export type InactiveReason =
  | "malformed"
  | "not_found"
  | "revoked"
  | "expired"
  | "tenant_policy"
  | "tenant_mismatch"
  | "unverified"
  | "unsupported"
  | "suspended";

export interface ActiveToken {
  active: true;
  tokenType: TokenType;
  tenantId: string;
  keyId?: string | undefined;
  sessionId?: string | undefined;
  expiresAt?: Date | undefined;
  deprecated: boolean;
  admin: boolean;
  subject?: string | undefined;
  groups?: string[] | undefined;
  email?: string | undefined;
  username?: string | undefined;
}

export interface InactiveToken {
  active: false;
  reason: InactiveReason;
}

export type Introspection = ActiveToken | InactiveToken;

export const inactive = (reason: InactiveReason): InactiveToken => ({ active: false, reason });
