import type { PolicyField } from "../ports/token-store.js";
import { defaultPolicy, type TenantPolicyRecord } from "./records.js";
import type { ServiceDeps } from "./service-deps.js";

export interface PolicyService {
  get(tenantId: string): Promise<TenantPolicyRecord>;
  /** Issue 22: with `fields`, only those are set (maxKeyLifetimeMs undefined: no maximum). */
  set(
    tenantId: string,
    hipaaEnabled: boolean,
    actor: string,
    opts?: { fields?: readonly PolicyField[]; maxKeyLifetimeMs?: number | undefined },
  ): Promise<TenantPolicyRecord>;
}

export function createPolicyService({ store, clock, cache, publish = () => {} }: ServiceDeps): PolicyService {
  return {
    async get(tenantId) {
      return (await store.getPolicy(tenantId)) ?? defaultPolicy(tenantId);
    },
    async set(tenantId, hipaaEnabled, actor, opts = {}) {
      const { fields, maxKeyLifetimeMs } = opts;
      const policy = { tenantId, hipaaEnabled, maxKeyLifetimeMs, updatedAt: clock.now(), updatedBy: actor };
      // Only the named fields change (default: the HIPAA flag), in one atomic write.
      let saved: TenantPolicyRecord | undefined;
      try {
        saved = await store.setPolicy(policy, fields ?? ["hipaaEnabled"]);
      } finally {
        // Takes effect on the very next call to this instance; other instances within the cache
        // TTL. Even on failure: the write may have landed (its answer lost), so the cached policy
        // goes and watchers are told the flag is unknown (they drop the tenant).
        cache.deletePolicy(tenantId);
        publish({ kind: "tenant_policy_changed", tenantId, hipaaEnabled: saved?.hipaaEnabled });
      }
      return saved;
    },
  };
}
