// The admin use cases behind one door: resolve the caller's bearer token to a principal, check it
// may take the action on the tenant, then run the domain service. Transports pass the raw bearer
// value and validated inputs; they never decide who may do what.
import type { AuditTrail } from "./audit-trail.js";
import { DomainError } from "./errors.js";
import type { Introspector } from "./introspector.js";
import type { KeyService } from "./key-service.js";
import type { PolicyService } from "./policy-service.js";
import { authorize, principalFrom, type AdminAction, type Principal } from "./principal.js";
import type { SessionService } from "./session-service.js";

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
      const introspect = () => deps.introspector.introspect(bearer, undefined, { clientAddress });
      const result = await (deps.audit.unit ? deps.audit.unit.outside(introspect) : introspect());
      return principalFrom(result, deps.adminGroup);
    },
    authorize,
    keys: deps.keys,
    sessions: deps.sessions,
    policies: deps.policies,
    audit: deps.audit,
  };
}
