import { StoreUnavailableError } from "../../domain/errors.js";
import { auditMatches, type AuditEvent } from "../../domain/audit.js";
import type { AuditStore } from "../../ports/audit-store.js";

/** The embedded store keeps at most this many audit events by default (AUDIT_MAX_EVENTS). */
export const MEMORY_AUDIT_MAX_EVENTS = 50_000;

/**
 * The embedded store's audit events: one array kept in id order (ids are time-ordered), plus the
 * set of dedupe keys. Synchronous before the first await, so each call is atomic. Bounded: past
 * `maxEvents` the OLDEST events are dropped (counted by `dropped()`, exported as a metric), so no
 * caller can grow the process's memory without bound through the trail.
 */
export function createMemoryAuditEvents(
  isClosed: () => boolean,
  maxEvents = MEMORY_AUDIT_MAX_EVENTS,
): AuditStore & { dropped(): number } {
  let dropped = 0;
  const events: AuditEvent[] = []; // ascending id
  const byId = new Map<string, AuditEvent>();
  const dedupeKeys = new Set<string>();
  const copy = (e: AuditEvent): AuditEvent => ({ ...e, actor: { ...e.actor } });
  const assertOpen = () => {
    if (isClosed()) throw new StoreUnavailableError("memory store is closed");
  };

  /** Index of the first event whose id is >= `id` (binary search). */
  function lowerBound(id: string): number {
    let lo = 0;
    let hi = events.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (events[mid]!.id < id) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  return {
    async appendAuditEvent(event) {
      assertOpen();
      if (byId.has(event.id)) throw new Error("duplicate audit event id");
      if (event.dedupeKey !== undefined) {
        if (dedupeKeys.has(event.dedupeKey)) return false;
        dedupeKeys.add(event.dedupeKey);
      }
      const stored = copy(event);
      events.splice(lowerBound(event.id), 0, stored);
      byId.set(event.id, stored);
      if (events.length > maxEvents) {
        // Oldest first, in batches (one splice per 1% of the cap, not one shift per append).
        const excess = events.splice(0, events.length - maxEvents + Math.floor(maxEvents / 100));
        for (const old of excess) {
          byId.delete(old.id);
          if (old.dedupeKey !== undefined) dedupeKeys.delete(old.dedupeKey);
        }
        dropped += excess.length;
      }
      return true;
    },

    dropped: () => dropped,

    async completeAuditEvent(id, completion) {
      assertOpen();
      const e = byId.get(id);
      if (!e || e.outcome !== "pending") return;
      e.outcome = completion.outcome;
      e.code = completion.code;
      if (completion.keyId !== undefined) e.keyId = completion.keyId;
      if (completion.sessionId !== undefined) e.sessionId = completion.sessionId;
      if (completion.detail !== undefined) e.detail = completion.detail;
    },

    async listAuditEvents(query) {
      assertOpen();
      const out: AuditEvent[] = [];
      const start = query.beforeId === undefined ? events.length : lowerBound(query.beforeId);
      for (let i = start - 1; i >= 0 && out.length < query.limit; i--) {
        const e = events[i]!;
        if (auditMatches(e, query)) out.push(copy(e));
      }
      return out;
    },
  };
}
