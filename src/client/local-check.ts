// What the client knows about a token before any network call, by the server's own parsing
// (src/domain/token-format.ts): an opaque token's kind and tenant (prefix, tenant id, checksum), a
// JWT's shape, or malformed. A malformed token is answered inactive here, as the server would.
import { create } from "@bufbuild/protobuf";
import {
  InactiveReason,
  IntrospectResponseSchema,
  type IntrospectResponse,
} from "../gen/warpflow/auth/v1/token_service_pb.js";
import { looksLikeJwt, MAX_TOKEN_LENGTH, parseToken, type ParsedToken } from "../domain/token-format.js";

export type LocalCheck = ParsedToken | "jwt" | "malformed";

/** The server's order (introspector.ts `resolve`): opaque parse, then JWT shape, else malformed. */
export function checkToken(token: string): LocalCheck {
  const parsed = token.length <= MAX_TOKEN_LENGTH ? parseToken(token) : null;
  if (parsed) return parsed;
  return looksLikeJwt(token) ? "jwt" : "malformed";
}

/**
 * An answer handed to every caller it serves (cached hits, joined misses, the constants below):
 * frozen with its arrays and timestamp, so one caller's change to its claims cannot reach another's.
 */
export function frozenAnswer(a: IntrospectResponse): IntrospectResponse {
  for (const v of Object.values(a)) if (typeof v === "object" && v !== null) Object.freeze(v);
  return Object.freeze(a);
}

/** Inactive answers, built once each (frozen: callers share them). */
export function inactiveAnswer(reason: InactiveReason): IntrospectResponse {
  return frozenAnswer(create(IntrospectResponseSchema, { active: false, inactiveReason: reason }));
}

export const MALFORMED = inactiveAnswer(InactiveReason.MALFORMED);
export const TENANT_MISMATCH = inactiveAnswer(InactiveReason.TENANT_MISMATCH);
