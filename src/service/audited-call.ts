// Runs one admin RPC inside its audit event. The handler tells the scope what it learns (who, on
// which tenant/key/session) and calls `begin()` right before a change: that stores the PENDING
// event first (if it cannot be stored, the call fails UNAVAILABLE and nothing changes), and the
// event is completed with the outcome afterwards. A call that never begins (a refusal, a read) is
// one finished event: a read's answer is sent only once its event is stored; a refusal stays a
// refusal even if its event cannot be stored. The outcome code comes from the one error mapping.
import { sanitizeClientText, type AuditAction, type AuditActor, type AuditCompletion } from "../domain/audit.js";
import type { AuditDraft, AuditTrail, PendingAudit } from "../domain/audit-trail.js";
import type { RefusalWindows } from "../domain/refusal-windows.js";
import { isKeyId, isSessionId } from "../domain/key-rules.js";
import { auditActorOf, type Principal } from "../domain/principal.js";
import { ADMIN_TENANT_ID, isValidTenantId } from "../domain/tenant-id.js";
import { codeName, mapError } from "../transport/protocol/error-mapping.js";
import { AUDIT_EVENT_TYPES } from "../domain/webhook-events.js";
import { Code } from "@connectrpc/connect";
import { directUnitOfWork } from "../ports/unit-of-work.js";
import type { CallContext } from "../transport/protocol/unary-handlers.js";
import { requestIdOf } from "../transport/protocol/request-id.js";

export interface AuditScope {
  principal(p: Principal): void;
  target(t: { tenantId?: string; keyId?: string; sessionId?: string }): void;
  detail(text: string): void;
  begin(): Promise<void>;
}

export type AuditedCall = <T>(
  action: AuditAction,
  ctx: CallContext,
  /** Fields of the request, used only if well formed (the event names the tenant even for a refusal). */
  request: { tenantId?: string; keyId?: string; sessionId?: string },
  body: (scope: AuditScope) => Promise<T>,
) => Promise<T>;

/**
 * Admin changes that derive a webhook event (webhook-events.ts) run in the trail's unit of work:
 * on a MongoDB replica set the change, its audit event and its outbox messages commit together.
 * Not RevokeTenantSessions: it revokes in batches under its own budget (possibly millions of
 * sessions, more than one transaction should hold), so its event keeps the plain path.
 */
const IN_UNIT = new Set(Object.keys(AUDIT_EVENT_TYPES).filter((a) => a !== "sessions.revoke_all"));
/**
 * Nor RevokeKey of an admin key: it revokes the sessions that key created on every tenant the same
 * way (key-service.ts), and the key must stay revoked when that stops part-way (a transaction would
 * roll it back with the rest, and the walk could outlast the transaction's own deadline).
 */
const inUnit = (action: AuditAction, request: { tenantId?: string }): boolean =>
  IN_UNIT.has(action) && !(action === "key.revoke" && request.tenantId === ADMIN_TENANT_ID);

/** A refusal inside a unit: the unit commits (the failed event with it), then the error is thrown. */
class Refused {
  constructor(readonly err: unknown) {}
}

/**
 * `refusals`: where a call refused before any change goes (counted per caller and window instead of
 * stored one by one past a few, see refusal-windows.ts); without it, every refusal is an event.
 */
export function createAuditedCall(audit: AuditTrail, refusals?: RefusalWindows): AuditedCall {
  const unit = audit.unit ?? directUnitOfWork;
  return async (action, ctx, request, body) => {
    // Who called, read now: grpc-js's getPeer() is "unknown" once the call's stream has closed (a
    // client that cancels before its event is written would leave no address in the trail).
    const caller = {
      peer: ctx.peer,
      userAgent: sanitizeClientText(ctx.userAgent),
      protocol: ctx.protocol,
      requestId: requestIdOf(ctx),
    };
    if (!inUnit(action, request)) return attempt(action, request, caller, body, false);
    let last: Attempt | undefined;
    let outcome: { value: Awaited<ReturnType<typeof body>> } | Refused;
    try {
      outcome = await unit.run(async () => {
        last = undefined; // a re-run attempt starts over (nothing of the previous one was stored)
        try {
          return { value: await attempt(action, request, caller, body, unit.inTransaction(), (a) => (last = a)) };
        } catch (err) {
          if (err instanceof Refused) return err;
          throw err;
        }
      });
    } catch (err) {
      // The unit failed whole (a store failure, or out of time): in a transaction nothing of it was
      // stored, its pending event included, so the failure is recorded after it, as one finished event.
      if (last?.transactional) await last.recordFailure(err);
      throw err;
    }
    // A refusal or domain failure: its FAILED event is stored (committed with the unit).
    if (outcome instanceof Refused) throw outcome.err;
    return outcome.value;
  };

  /** One run of the call. `inTransaction`: its writes roll back if the unit fails. */
  async function attempt<T>(
    action: AuditAction,
    request: { tenantId?: string; keyId?: string; sessionId?: string },
    caller: Pick<AuditDraft, "peer" | "userAgent" | "protocol" | "requestId">,
    body: (scope: AuditScope) => Promise<T>,
    inTransaction: boolean,
    started?: (a: Attempt) => void,
  ): Promise<T> {
    let actor: AuditActor = { kind: "none", id: "", tenantId: "" };
    let tenantId =
      request.tenantId !== undefined && isValidTenantId(request.tenantId) ? request.tenantId : ADMIN_TENANT_ID;
    let keyId = request.keyId !== undefined && isKeyId(request.keyId) ? request.keyId : undefined;
    let sessionId = request.sessionId !== undefined && isSessionId(request.sessionId) ? request.sessionId : undefined;
    let detail: string | undefined;
    let pending: PendingAudit | undefined;
    const draft = (): AuditDraft => ({ action, actor, tenantId, keyId, sessionId, ...caller });
    const failedOf = (err: unknown): AuditCompletion => {
      const mapped = mapError(err);
      // The handler's detail, if it set one, is kept after the error's message (e.g. what a revoke did before it failed).
      const failedDetail = detail === undefined ? mapped.message : `${mapped.message}: ${detail}`;
      return { outcome: "failed", code: codeName(mapped.code).toUpperCase(), detail: failedDetail };
    };
    started?.({
      transactional: inTransaction,
      async recordFailure(err) {
        const failed = failedOf(err);
        if (!pending && refusals) await refusals.refused(draft(), failed);
        else await audit.record(draft(), failed).catch(() => undefined); // the call fails either way
      },
    });
    const scope: AuditScope = {
      principal(p) {
        actor = auditActorOf(p);
      },
      target(t) {
        if (t.tenantId !== undefined) tenantId = t.tenantId;
        if (t.keyId !== undefined) keyId = t.keyId;
        if (t.sessionId !== undefined) sessionId = t.sessionId;
      },
      detail(text) {
        detail = text;
      },
      async begin() {
        pending = await audit.begin(draft());
      },
    };

    let result: Awaited<ReturnType<typeof body>>;
    try {
      result = await body(scope);
    } catch (err) {
      // In a transaction, a store failure fails the unit whole (recorded after it, see above);
      // a refusal or a domain failure is completed here and committed with the unit.
      if (inTransaction && isStoreFailure(err)) throw err;
      const failed = failedOf(err);
      if (pending) await pending.complete(failed);
      // Refused before any change: counted per caller and window (refusal-windows.ts), so neither a
      // stranger nor a real credential without permission can flood the trail or evict other events.
      // Outside the unit: the window counts in memory, and an event it stores in a transaction that
      // is rolled back and run again would be lost (the window would only count the re-run).
      else if (refusals) await unit.outside(() => refusals.refused(draft(), failed));
      else await audit.record(draft(), failed).catch(() => undefined); // still refused if not stored
      throw started ? new Refused(err) : err;
    }
    const ok: AuditCompletion = { outcome: "ok", code: "OK", keyId, sessionId, detail };
    if (pending) await pending.complete(ok);
    else await audit.record(draft(), ok); // a read: no answer without its event
    return result;
  }
}

interface Attempt {
  /** It ran in a transaction: if the unit fails, nothing it wrote was stored. */
  readonly transactional: boolean;
  /** Records the unit's failure as this attempt would have (after the unit, outside it). */
  recordFailure(err: unknown): Promise<void>;
}

/** The store could not answer, or failed in a way no caller caused (a write conflict, E11000 on a slot): not a refusal. */
const isStoreFailure = (err: unknown): boolean => {
  const mapped = mapError(err);
  return (
    mapped.unexpected === true ||
    mapped.code === Code.Unavailable ||
    mapped.code === Code.Internal ||
    mapped.code === Code.Unknown ||
    mapped.code === Code.DeadlineExceeded
  );
};
