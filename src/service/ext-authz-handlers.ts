// Envoy's external authorization service (envoy.service.auth.v3.Authorization/Check), served on
// the one port beside TokenService: /authz's decisions (edge-auth-answers.ts) in ext_authz's gRPC
// shape (check-answers.ts), behind the same door as Introspect: the same caller restriction, the
// same introspect handler (cache, last_used_at, result metrics) and, while the token is cached,
// the same synchronous fast path.
import type { CachedAnswer } from "../domain/introspector.js";
import type { Authorization, CheckRequest } from "../gen/envoy/service/auth/v3/external_auth_pb.js";
import type { IntrospectRequest, IntrospectResponse, TokenService } from "../gen/warpflow/auth/v1/token_service_pb.js";
import { credentialOf, denial, expectedTenantOf, type Denial } from "../transport/protocol/edge-auth-answers.js";
import {
  FAST_UNARY,
  type CallContext,
  type FastAnswer,
  type FastUnary,
  type UnaryHandlers,
  type WithFastUnary,
} from "../transport/protocol/unary-handlers.js";
import { allowedCheck, deniedCheck } from "./check-answers.js";
import { checkInputOf, MAX_CLIENT_CLAIM_HEADERS, type CheckInput } from "./check-input.js";

export interface AuthorizationDeps {
  /** TokenService's handlers: Check runs their introspect (and its fast path, when offered). */
  tokenService: UnaryHandlers<typeof TokenService>;
  /** The Introspect caller restriction (introspect-callers.ts); undefined: anyone. */
  callerCheck?: ((ctx: CallContext) => void) | undefined;
  /** AUTHZ_REQUIRE_TENANT_BINDING: no tenant_id context extension is a 403, as on /authz. */
  requireTenantBinding?: boolean | undefined;
}

/**
 * More `x-warpflow-*` headers than Check reads (the request cannot be cleaned of them): the
 * client's own doing, so a denial (401 `invalid_request`, as for two authorization headers), not
 * a failed call, which `failure_mode_allow: true` would let through with the forged headers.
 */
const TOO_MANY_CLAIM_HEADERS = denial("invalid_request", `more than ${MAX_CLIENT_CLAIM_HEADERS} x-warpflow-* headers`);

/**
 * The Introspect question a Check asks, or the denial that needs no question (too many client
 * `x-warpflow-*` headers, no usable bearer credential, no tenant binding where one is required).
 */
function questionOf(input: CheckInput, requireBinding: boolean): IntrospectRequest | Denial {
  if (input.tooManyClaimHeaders) return TOO_MANY_CLAIM_HEADERS;
  const token = credentialOf(input.authorizationCount, input.authorization);
  if (typeof token !== "string") return token;
  const expected = expectedTenantOf(input.tenantBinding, requireBinding);
  if (typeof expected !== "string") return expected;
  // Scopes from the `required_scopes` context extension, the address from the downstream peer (issue 22).
  return {
    $typeName: "warpflow.auth.v1.IntrospectRequest",
    token,
    expectedTenantId: expected,
    requiredScopes: input.requiredScopes ?? [], // checkInputOf made it for this request: no copy
    clientAddress: input.clientAddress ?? "",
  };
}

const answerOf = (r: IntrospectResponse, clientClaimHeaders: readonly string[], requiredScopes: readonly string[]) =>
  r.active ? allowedCheck(r, clientClaimHeaders) : deniedCheck(denial(r.inactiveReason, requiredScopes));

export function createAuthorizationHandlers(deps: AuthorizationDeps): UnaryHandlers<typeof Authorization> {
  const { tokenService, callerCheck } = deps;
  const requireBinding = deps.requireTenantBinding === true;
  const handlers: UnaryHandlers<typeof Authorization> = {
    async check(req, ctx) {
      callerCheck?.(ctx);
      const input = checkInputOf(req);
      const question = questionOf(input, requireBinding);
      if (!("token" in question)) return deniedCheck(question);
      const r = await tokenService.introspect(question, ctx);
      if (r.active) {
        ctx.tenantId = r.tenantId;
        ctx.keyId = r.keyId || undefined;
      }
      return answerOf(r, input.clientClaimHeaders, question.requiredScopes);
    },
  };
  const fast = checkFastPath(tokenService, callerCheck, requireBinding);
  return fast ? Object.assign(handlers, { [FAST_UNARY]: { check: fast as FastUnary } }) : handlers;
}

interface CheckAnswer extends FastAnswer {
  /** The response, made once per answer (its bytes are then kept in `encoded`). */
  message: () => unknown;
}

/**
 * Check answered synchronously while Introspect's fast path can answer (token and policy cached),
 * or when no question is needed: the handler's result without its promise. The response depends
 * only on the introspection answer (and the client's own x-warpflow-* header names, almost always
 * none), so its bytes are made once per cached answer and reused by every call it serves.
 * Offered only where Introspect offers one (not when callers are restricted).
 */
function checkFastPath(
  tokenService: UnaryHandlers<typeof TokenService>,
  callerCheck: ((ctx: CallContext) => void) | undefined,
  requireBinding: boolean,
): FastUnary<CheckAnswer> | undefined {
  const introspect = (tokenService as WithFastUnary)[FAST_UNARY]?.introspect as FastUnary<CachedAnswer> | undefined;
  if (callerCheck || !introspect) return undefined;
  const denied = new WeakMap<Denial, CheckAnswer>(); // the denials are a fixed set of constants
  const byAnswer = new WeakMap<CachedAnswer, CheckAnswer>();
  const none: readonly string[] = [];
  const checkAnswer = (a: CachedAnswer, claims: readonly string[], scopes: readonly string[]): CheckAnswer => ({
    encoded: undefined,
    message: () => answerOf(introspect.message(a) as IntrospectResponse, claims, scopes),
  });
  return {
    answer(req) {
      const input = checkInputOf(req as CheckRequest);
      const question = questionOf(input, requireBinding);
      if (!("token" in question)) {
        let d = denied.get(question);
        if (!d) denied.set(question, (d = { encoded: undefined, message: () => deniedCheck(question) }));
        return d;
      }
      const a = introspect.answer(question);
      if (a === undefined) return undefined;
      // A scope denial's challenge names the scopes asked for: not shared between questions (an
      // allowed answer, or any other denial, does not depend on them: shared per cached answer).
      const scopeDenial = !a.result.active && a.result.reason === "insufficient_scope";
      if (input.clientClaimHeaders.length > 0 || (scopeDenial && question.requiredScopes.length > 0))
        return checkAnswer(a, input.clientClaimHeaders, question.requiredScopes);
      let c = byAnswer.get(a);
      if (!c) byAnswer.set(a, (c = checkAnswer(a, none, none)));
      return c;
    },
    message: (c) => c.message(),
  };
}
