// The audit part of the store port (every TokenStore is one). Events are appended, never deleted
// by the service (MongoDB may expire them by AUDIT_RETENTION_DAYS); the one change an event ever
// sees is the completion of a pending event, once.
import type { AuditCompletion, AuditEvent, AuditQuery } from "../domain/audit.js";

export interface AuditStore {
  /**
   * Appends an event. With `dedupeKey`, at most one event per key is ever stored (a conditional
   * write): answers false, storing nothing, when one already exists. Otherwise answers true.
   */
  appendAuditEvent(event: AuditEvent): Promise<boolean>;
  /**
   * Sets the outcome of a PENDING event (and the key/session/detail learned meanwhile). An event
   * that is not pending, or unknown, is left as it is.
   */
  completeAuditEvent(id: string, completion: AuditCompletion): Promise<void>;
  /** Events matching the query, newest first (id descending), at most `limit`. */
  listAuditEvents(query: AuditQuery): Promise<AuditEvent[]>;
}
