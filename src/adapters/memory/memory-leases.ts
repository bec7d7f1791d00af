import { StoreUnavailableError } from "../../domain/errors.js";
import type { LeaseStore } from "../../ports/lease-store.js";

/** The embedded store's leases: synchronous before the first await, so each call is atomic. */
export function createMemoryLeases(isClosed: () => boolean): LeaseStore {
  const leases = new Map<string, { holder: string; until: Date }>();
  const assertOpen = () => {
    if (isClosed()) throw new StoreUnavailableError("memory store is closed");
  };
  return {
    async claimLease({ name, holder, now, until }) {
      assertOpen();
      const current = leases.get(name);
      if (current && current.holder !== holder && current.until > now) return false;
      leases.set(name, { holder, until });
      return true;
    },
    async releaseLease({ name, holder }) {
      assertOpen();
      if (leases.get(name)?.holder === holder) leases.delete(name);
    },
  };
}
