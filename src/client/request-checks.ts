// Issue 22 in the client: required scopes are checked locally on the cached answer (the server's
// rule: an answer with scopes must hold each one; an answer without scopes is unscoped, full
// access); client addresses are never part of a cached answer (see token-client.ts and
// docs/client.md). Inputs are validated like the server does (never echoing a value).
import { requireClientAddress } from "../domain/address-allowlist.js";
import { DomainError } from "../domain/errors.js";
import { requireRequiredScopes } from "../domain/key-scopes.js";
import { InactiveReason, TokenType, type IntrospectResponse } from "../gen/warpflow/auth/v1/token_service_pb.js";
import { TokenClientError } from "./errors.js";
import { inactiveAnswer } from "./local-check.js";

export interface RequestChecks {
  requiredScopes?: readonly string[];
  clientAddress?: string;
}

export const INSUFFICIENT_SCOPE = inactiveAnswer(InactiveReason.INSUFFICIENT_SCOPE);

/** Validated checks (normalised address), or undefined when none asked. */
export function validChecks(c: RequestChecks): { requiredScopes?: string[]; clientAddress?: string } | undefined {
  if (!c.requiredScopes?.length && !c.clientAddress) return undefined;
  try {
    return {
      requiredScopes: requireRequiredScopes(c.requiredScopes ?? []),
      clientAddress: requireClientAddress(c.clientAddress ?? ""),
    };
  } catch (e) {
    if (e instanceof DomainError) throw new TokenClientError("invalid_argument", e.message);
    throw e;
  }
}

/**
 * The answer for `required` scopes from an answer given without them: the same answer, the
 * INSUFFICIENT_SCOPE one, or undefined when it cannot be told locally (a Cognito token answered
 * with no scopes: a server older than this client may have answered an empty `scope` claim, which
 * holds none, that way; ask the server. Servers since refuse such a token as UNVERIFIED).
 */
export function withRequiredScopes(
  a: IntrospectResponse,
  required: readonly string[] | undefined,
): IntrospectResponse | undefined {
  if (!a.active || !required?.length) return a;
  if (a.scopes.length === 0) return a.tokenType === TokenType.COGNITO ? undefined : a;
  for (const r of required) if (!a.scopes.includes(r)) return INSUFFICIENT_SCOPE;
  return a;
}
