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
  | "insufficient_scope"
  | "address_not_allowed"
  | "suspended";

export interface ActiveToken {
  active: true;
  tokenType: TokenType;
  tenantId: string;
  keyId?: string | undefined;
  sessionId?: string | undefined;
  expiresAt?: Date | undefined;
  /** When the key or session was created (RFC 7662 `iat`); unknown for a JWT. */
  issuedAt?: Date | undefined;
  deprecated: boolean;
  admin: boolean;
  subject?: string | undefined;
  groups?: string[] | undefined;
  email?: string | undefined;
  username?: string | undefined;
  /** The token's scopes; undefined: unscoped (full tenant access). Answered. */
  scopes?: readonly string[] | undefined;
  /** An API key's IP allowlist (normalised CIDRs); checked per request, never answered. */
  allowedCidrs?: readonly string[] | undefined;
}

export interface InactiveToken {
  active: false;
  reason: InactiveReason;
  /**
   * A suspended key's IP allowlist (never sent): judged before the suspension is said, as for an
   * active key (access-checks.ts), so from outside it a resumable key is not told apart from an
   * unknown one at the edge.
   */
  allowedCidrs?: readonly string[] | undefined;
}

export type Introspection = ActiveToken | InactiveToken;

export const inactive = (reason: InactiveReason): InactiveToken => ({ active: false, reason });
