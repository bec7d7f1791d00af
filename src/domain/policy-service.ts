import { defaultPolicy, type TenantPolicyRecord } from "./records.js";
import type { ServiceDeps } from "./service-deps.js";

export interface PolicyService {
  get(tenantId: string): Promise<TenantPolicyRecord>;
  set(tenantId: string, hipaaEnabled: boolean, actor: string): Promise<TenantPolicyRecord>;
}

export function createPolicyService({ store, clock, cache, publish = () => {} }: ServiceDeps): PolicyService {
  return {
    async get(tenantId) {
      return (await store.getPolicy(tenantId)) ?? defaultPolicy(tenantId);
    },
    async set(tenantId, hipaaEnabled, actor) {
      const saved = await store.setPolicy({ tenantId, hipaaEnabled, updatedAt: clock.now(), updatedBy: actor });
      // Takes effect on the very next call to this instance; other instances within the cache TTL.
      cache.deletePolicy(tenantId);
      publish({ kind: "tenant_policy_changed", tenantId, hipaaEnabled: saved.hipaaEnabled });
      return saved;
    },
  };
}
