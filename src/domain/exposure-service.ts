// What a verified secret-scanning alert does: every reported token that is a live credential of
// this service is revoked at once (a leak is a compromise), with the report stored on the key in
// the same write and a key.exposed audit event; everything else is a false positive.
import { createHash } from "node:crypto";
import { completeAfter, type AuditTrail } from "./audit-trail.js";
import { sanitizeClientText, type AuditActor } from "./audit.js";
import { DomainError } from "./errors.js";
import type { Invalidation } from "./invalidation-hub.js";
import { effectiveKey } from "./key-rules.js";
import type { KeyExposure, KeyRecord } from "./records.js";
import { directUnitOfWork } from "../ports/unit-of-work.js";
import {
  EXPOSURE_FIELD_MAX,
  exposureDetail,
  reportField,
  type ExposureFeedback,
  type ExposureLabel,
  type ExposureReport,
} from "./secret-scanning.js";
import type { ServiceDeps } from "./service-deps.js";
import type { SessionService } from "./session-service.js";
import { ADMIN_TENANT_ID } from "./tenant-id.js";
import { parseToken } from "./token-format.js";
import { hashToken } from "./token-hash.js";

/** The actor of every change an alert makes; revokedBy on the keys and sessions it revokes. */
export const SCANNER_ACTOR: AuditActor = { kind: "service", id: "secret-scanning", tenantId: ADMIN_TENANT_ID };
export const REVOKED_BY_SCANNER = "system:secret-scanning";
/** Matches looked up at once: enough to hide a store's round trip, few enough not to crowd it. */
export const EXPOSURE_CONCURRENCY = 16;

export interface ExposureService {
  /**
   * One feedback entry per distinct token, in the order of first appearance. Store failures reject.
   * `origin`: who delivered the alert (peer address, user agent), for the audit events.
   * `unreadable`: entries of the alert left out before (parseAlertBody), for the counts.
   */
  handle(reports: readonly ExposureReport[], origin?: AlertOrigin, unreadable?: number): Promise<ExposureFeedback[]>;
}

export interface AlertOrigin {
  peer?: string | undefined;
  userAgent?: string | undefined;
}

export interface ExposureCounts {
  /** Live credentials revoked by this call. */
  revoked: number;
  /** Distinct tokens answered false_positive without a store read (bad checksum, not ours). */
  malformed: number;
  /** Distinct tokens looked up in the store. */
  lookedUp: number;
  /** Entries of the alert that were not a match with a string token (left out of the feedback). */
  unreadable: number;
}

export function createExposureService(
  deps: ServiceDeps & {
    audit: AuditTrail;
    /** An admin key's sessions go with it, as on RevokeKey (session-service.ts). */
    sessions: Pick<SessionService, "revokeCreatedBy">;
    observe?: ((counts: ExposureCounts) => void) | undefined;
  },
): ExposureService {
  const { store, clock, cache, audit, sessions, publish = () => {} } = deps;

  /**
   * The sessions a leaked admin key created, on every tenant (the key's holder may have minted
   * them): revoked as RevokeKey of that key revokes them, outside the alert's unit of work (many
   * sessions, in batches). Also for a key already revoked: a walk that stopped part-way (the alert
   * was answered 503) is finished by GitHub's resend, which finds the key revoked.
   */
  const revokeSessionsOf = async (key: KeyRecord, counts: ExposureCounts) => {
    if (key.tenantId !== ADMIN_TENANT_ID) return;
    const unit = audit.unit ?? directUnitOfWork;
    counts.revoked += await unit.outside(() => sessions.revokeCreatedBy(key.id, REVOKED_BY_SCANNER));
  };

  async function judge(report: ExposureReport, counts: ExposureCounts, origin: AlertOrigin): Promise<ExposureLabel> {
    const parsed = parseToken(report.token);
    if (!parsed) {
      counts.malformed++;
      return "false_positive";
    }
    counts.lookedUp++;
    const hash = hashToken(report.token);
    const now = clock.now();
    const fields = {
      type: reportField(report.type, report.token, EXPOSURE_FIELD_MAX.type),
      source: reportField(report.source, report.token, EXPOSURE_FIELD_MAX.source),
      url: reportField(report.url, report.token, EXPOSURE_FIELD_MAX.url),
    };
    if (parsed.kind === "session")
      return (await revokeSession(hash, parsed.tenantId, fields, now, origin)) ? tp(counts) : "false_positive";
    const key = await store.findKeyByHash(hash);
    if (!key || key.tenantId !== parsed.tenantId) return "false_positive";
    if (effectiveKey(key, now).status === "revoked") {
      await revokeSessionsOf(key, counts);
      return "false_positive";
    }
    // The revoke, its key.exposed event and the webhook messages: one unit of work (one transaction
    // on a MongoDB replica set). A store failure fails it whole (the alert is 503, GitHub sends it again).
    const unit = audit.unit ?? directUnitOfWork;
    const revoked = await unit.run(() => revokeExposed(key, fields, now, origin));
    await revokeSessionsOf(key, counts);
    return revoked ? tp(counts) : "false_positive";
  }

  async function revokeExposed(
    key: KeyRecord,
    fields: Omit<KeyExposure, "reportedAt">,
    now: Date,
    origin: AlertOrigin,
  ): Promise<boolean> {
    const detail = exposureDetail(fields);
    const pending = await audit.begin({
      action: "key.exposed",
      actor: SCANNER_ACTOR,
      tenantId: key.tenantId,
      keyId: key.id,
      protocol: "rest",
      ...originFields(origin),
      detail,
    });
    const exposure: KeyExposure = { ...fields, reportedAt: now, auditEventId: pending.event.id };
    return completeAfter(
      pending,
      async () => {
        const r = await store
          .revokeKey({ tenantId: key.tenantId, keyId: key.id, revokedAt: now, revokedBy: REVOKED_BY_SCANNER, exposure })
          .finally(() => {
            cache.delete(key.tokenHash); // even on failure: the write may have landed
            publish({ kind: "key_revoked", tenantId: key.tenantId, keyId: key.id } satisfies Invalidation);
          });
        // Revoked by someone else between the read and this write (an admin, or the same alert on
        // another replica): the write changed nothing, so this event must not read as the revoke.
        if (r?.exposure?.auditEventId !== pending.event.id)
          throw new DomainError("failed_precondition", `key ${key.id} was revoked meanwhile`);
        return r;
      },
      () => ({ keyId: key.id, detail }),
    ).then(
      () => true,
      (err: unknown) => {
        if (err instanceof DomainError && err.code === "failed_precondition") return false;
        throw err;
      },
    );
  }

  /** A live session token: revoked too (audited as session.revoke by the scanner, with the report). */
  async function revokeSession(
    hash: string,
    tenantId: string,
    fields: Omit<KeyExposure, "reportedAt">,
    now: Date,
    origin: AlertOrigin,
  ): Promise<boolean> {
    const session = await store.findSessionByHash(hash);
    if (!session || session.tenantId !== tenantId || session.revokedAt || session.expiresAt <= now) return false;
    const detail = `exposed: ${exposureDetail(fields)}`;
    const pending = await audit.begin({
      action: "session.revoke",
      actor: SCANNER_ACTOR,
      tenantId,
      sessionId: session.id,
      protocol: "rest",
      ...originFields(origin),
      detail,
    });
    await completeAfter(
      pending,
      () =>
        store
          .revokeSession({ tenantId, sessionId: session.id, revokedAt: now, revokedBy: REVOKED_BY_SCANNER })
          .finally(() => {
            cache.deleteSession(session.id);
            publish({ kind: "session_revoked", tenantId, sessionId: session.id });
          }),
      () => ({ sessionId: session.id, detail }),
    );
    return true;
  }

  const originFields = (o: AlertOrigin) => ({ peer: o.peer, userAgent: sanitizeClientText(o.userAgent) });

  function tp(counts: ExposureCounts): ExposureLabel {
    counts.revoked++;
    return "true_positive";
  }

  return {
    async handle(reports, origin = {}, unreadable = 0) {
      // Duplicates in one batch are judged once (the first report of a token is the one stored).
      const distinct = new Map<string, ExposureReport>();
      for (const r of reports) if (!distinct.has(r.token)) distinct.set(r.token, r);
      const list = [...distinct.values()];
      const labels = new Array<ExposureLabel>(list.length);
      const counts: ExposureCounts = { revoked: 0, malformed: 0, lookedUp: 0, unreadable };
      let next = 0;
      const worker = async () => {
        while (next < list.length) {
          const i = next++;
          labels[i] = await judge(list[i]!, counts, origin);
        }
      };
      await Promise.all(Array.from({ length: Math.min(EXPOSURE_CONCURRENCY, list.length) }, worker));
      deps.observe?.(counts);
      return list.map((r, i) => ({
        token_hash: createHash("sha256").update(r.token, "utf8").digest("hex"),
        token_type: reportField(r.type, r.token, EXPOSURE_FIELD_MAX.type),
        label: labels[i]!,
      }));
    },
  };
}
