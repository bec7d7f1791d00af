// Verifies a JWT (Cognito, in production). Expected failures are values with a reason, never
// exceptions; only "the verifier itself cannot work" throws.
export interface VerifiedJwt {
  tenantId: string;
  subject: string;
  expiresAt: Date;
  groups: string[];
  email?: string | undefined;
  username?: string | undefined;
  /** The access token's `scope` claim, split (issue 22); undefined: no claim (unscoped). */
  scopes?: string[] | undefined;
}

export type JwtVerification =
  | { ok: true; claims: VerifiedJwt }
  | { ok: false; reason: "expired" | "unverified" | "malformed" | "unsupported" };

export interface JwtVerifier {
  verify(token: string): Promise<JwtVerification>;
  /** Is this verifier ready (JWKS loaded)? */
  ready(): boolean;
  /** Stops its timers (the JWKS refresh), at the app's close. */
  close?(): void;
}

/** The verifier used when Cognito is not configured: every JWT is unsupported. */
export const disabledJwtVerifier: JwtVerifier = {
  verify: async () => ({ ok: false, reason: "unsupported" }),
  ready: () => true,
};
