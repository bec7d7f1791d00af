// The admin use cases behind one door: resolve the caller's bearer token to a principal, check it
// may take the action on the tenant, then run the domain service. Transports pass the raw bearer
// value and validated inputs; they never decide who may do what.
import type { AuditTrail } from "./audit-trail.js";
import { DomainError } from "./errors.js";
import type { Introspector } from "./introspector.js";
import type { KeyService } from "./key-service.js";
import type { PolicyService } from "./policy-service.js";
import { authorize, NOT_VALID, principalFrom, type AdminAction, type Principal } from "./principal.js";
import type { SessionService } from "./session-service.js";
import type { Clock } from "../ports/clock.js";
import type { TokenStore } from "../ports/token-store.js";
import { keyInactiveReason } from "./key-expiry.js";
import { ADMIN_TENANT_ID } from "./tenant-id.js";

export interface AdminApi {
  /** `clientAddress`: the caller's address (normalised), checked against the key's IP allowlist. */
  authenticate(bearer: string | undefined, clientAddress?: string): Promise<Principal>;
  authorize(principal: Principal, action: AdminAction, tenantId?: string): void;
  readonly keys: KeyService;
  readonly sessions: SessionService;
  readonly policies: PolicyService;
  readonly audit: AuditTrail;
}

export function createAdminApi(deps: {
  introspector: Introspector;
  /**
   * Where an admin key is read again on every admin call (see authenticate): the store itself,
   * never this instance's cache.
   */
  adminKeys: Pick<TokenStore, "getKey">;
  clock: Clock;
  keys: KeyService;
  sessions: SessionService;
  policies: PolicyService;
  audit: AuditTrail;
  /** Cognito group whose members administer their own tenant. */
  adminGroup: string;
}): AdminApi {
  return {
    async authenticate(bearer, clientAddress) {
      if (!bearer)
        throw new DomainError("unauthenticated", "missing bearer credential (authorization: Bearer <token>)");
      // Outside the call's unit of work (issue 24): who calls is not part of the change. Inside a
      // transaction the driver drops a per-operation read concern (Introspect's `linearizable`
      // lookup would read the transaction's snapshot), and the introspection's own side effects
      // (cache fill, last-use flush) must not join the change's transaction.
      const outside = <T>(fn: () => Promise<T>) => (deps.audit.unit ? deps.audit.unit.outside(fn) : fn());
      const introspect = () => deps.introspector.introspect(bearer, undefined, { clientAddress });
      const principal = principalFrom(await outside(introspect), deps.adminGroup);
      // An admin key's answer may come from this instance's cache, which a RevokeKey made on
      // another instance reaches only through the change feed (or the cache TTL when the feed is
      // down, or with the embedded store): meanwhile the revoked key could mint a permanent admin
      // key here. So an admin key is read from the store on every admin call (admin calls are
      // rare; one read by id).
      if (principal.kind === "platform_admin") {
        const key = await outside(() => deps.adminKeys.getKey(ADMIN_TENANT_ID, principal.actor));
        if (!key || keyInactiveReason(key, deps.clock.now()) !== undefined)
          throw new DomainError("unauthenticated", NOT_VALID);
        // Rotated meanwhile (the cached answer predates it): a deprecated key manages no admin key.
        if (key.status === "deprecated") return { ...principal, deprecated: true };
      }
      return principal;
    },
    authorize,
    keys: deps.keys,
    sessions: deps.sessions,
    policies: deps.policies,
    audit: deps.audit,
  };
}
