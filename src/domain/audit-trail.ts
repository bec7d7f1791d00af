import type { Clock } from "../ports/clock.js";
import type { AuditStore } from "../ports/audit-store.js";
import type { UnitOfWork } from "../ports/unit-of-work.js";
import { newAuditEventId, type AuditCompletion, type AuditEvent, type AuditQuery } from "./audit.js";
import { DomainError } from "./errors.js";

/** An event as a caller describes it; the trail adds id, time and (for begin) the pending outcome. */
export type AuditDraft = Omit<AuditEvent, "id" | "time" | "outcome" | "code"> & { time?: Date };

/** A pending event: complete it once the change it announces has run (or failed). */
export interface PendingAudit {
  readonly event: AuditEvent;
  /**
   * Never throws: a completion the store cannot take is retried in the background, then left
   * pending. Except inside a transaction (the trail's unit): there it throws, and the unit fails whole.
   */
  complete(completion: AuditCompletion): Promise<void>;
}

/**
 * The audit trail. Guarantees:
 * - a change is announced by a PENDING event stored BEFORE it runs (begin); if that event cannot
 *   be stored, begin throws and the change must not run. Completion sets the outcome afterwards.
 *   So no change can take effect without its event: a crash or outage between the two leaves the
 *   event pending, which reads as "outcome unknown".
 * - a refusal, or a read, is one finished event (record); a read's answer waits for it.
 * - a service action several replicas may take (a grace expiry) is recorded once (recordOnce).
 * - every finished event is handed to `sink` once (the structured log line), whether or not the
 *   store took it (`stored`), with its real outcome.
 */
export interface AuditTrail {
  begin(draft: AuditDraft): Promise<PendingAudit>;
  record(draft: AuditDraft, completion: AuditCompletion): Promise<AuditEvent>;
  recordOnce(draft: AuditDraft & { dedupeKey: string }, completion: AuditCompletion): Promise<boolean>;
  list(query: AuditQuery): Promise<AuditEvent[]>;
  /**
   * The store's unit of work (issue 24): an admin change run in it commits together with its audit
   * events and the webhook messages derived from them (a transaction on MongoDB replica sets).
   */
  readonly unit?: UnitOfWork | undefined;
}

/**
 * Runs a change announced by `pending` (none: unaudited) and completes the event with how it ended:
 * OK with what `learned` reports, or FAILED with the DomainError's code (INTERNAL otherwise). Rethrows.
 */
export async function completeAfter<T>(
  pending: PendingAudit | undefined,
  change: () => Promise<T>,
  learned: (value: T) => Pick<AuditCompletion, "keyId" | "sessionId" | "detail">,
): Promise<T> {
  try {
    const value = await change();
    await pending?.complete({ outcome: "ok", code: "OK", ...learned(value) });
    return value;
  } catch (err) {
    const code = err instanceof DomainError ? err.code.toUpperCase() : "INTERNAL";
    await pending?.complete({ outcome: "failed", code, detail: (err as Error).message });
    throw err;
  }
}

export type AuditSink = (event: AuditEvent, stored: boolean) => void;

export function createAuditTrail(deps: {
  store: AuditStore;
  clock: Clock;
  sink?: AuditSink | undefined;
  /** Delays between completion retries (default ~1 minute in all). */
  retryDelaysMs?: readonly number[];
  /** The store's unit of work; the sink's line of an event written in one is emitted once it commits. */
  unit?: UnitOfWork | undefined;
}): AuditTrail {
  const { store, clock, sink = () => undefined, retryDelaysMs = [250, 1000, 4000, 15_000, 40_000] } = deps;

  const build = (draft: AuditDraft, outcome: AuditEvent["outcome"], code: string): AuditEvent => {
    const time = draft.time ?? clock.now();
    const event: AuditEvent = { ...draft, id: newAuditEventId(time), time, outcome, code };
    for (const k of Object.keys(event) as (keyof AuditEvent)[]) if (event[k] === undefined) delete event[k];
    return event;
  };
  const finished = (event: AuditEvent, c: AuditCompletion): AuditEvent => ({
    ...event,
    outcome: c.outcome,
    code: c.code,
    ...(c.keyId !== undefined ? { keyId: c.keyId } : {}),
    ...(c.sessionId !== undefined ? { sessionId: c.sessionId } : {}),
    ...(c.detail !== undefined ? { detail: c.detail } : {}),
  });
  const emitNow = (event: AuditEvent, stored: boolean) => {
    try {
      sink(event, stored);
    } catch {
      // the log line must never fail the call
    }
  };
  // In a transaction the line waits for the commit: an attempt that is run again, or a unit that
  // is rolled back, logs nothing (its events were never stored); once otherwise.
  const emit = (event: AuditEvent, stored: boolean) =>
    deps.unit ? deps.unit.afterCommit(() => emitNow(event, stored)) : emitNow(event, stored);

  async function completeLater(event: AuditEvent, c: AuditCompletion): Promise<void> {
    for (const delay of retryDelaysMs) {
      await new Promise((r) => setTimeout(r, delay).unref());
      try {
        await store.completeAuditEvent(event.id, c);
        return;
      } catch {
        // still unavailable: try again; after the last attempt the event stays pending (unknown)
      }
    }
  }

  return {
    async begin(draft) {
      const event = build(draft, "pending", "");
      await store.appendAuditEvent(event); // throws: the change must not run
      return {
        event,
        async complete(c) {
          let stored = true;
          try {
            await store.completeAuditEvent(event.id, c);
          } catch (err) {
            if (deps.unit?.inTransaction()) throw err; // rolled back with the change: nothing to complete later
            stored = false;
            void completeLater(event, c);
          }
          emit(finished(event, c), stored);
        },
      };
    },

    async record(draft, c) {
      const event = finished(build(draft, c.outcome, c.code), c);
      try {
        await store.appendAuditEvent(event);
      } catch (err) {
        emit(event, false);
        throw err;
      }
      emit(event, true);
      return event;
    },

    async recordOnce(draft, c) {
      const event = finished(build(draft, c.outcome, c.code), c);
      const stored = await store.appendAuditEvent(event);
      if (stored) emit(event, true);
      return stored;
    },

    list: (query) => store.listAuditEvents(query),
    unit: deps.unit,
  };
}
