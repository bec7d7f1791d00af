import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { AUDIT_ACTIONS, type AuditAction, type AuditActorKind, type AuditEvent } from "../domain/audit.js";
import type { SessionRecord } from "../domain/records.js";
import * as pb from "../gen/warpflow/auth/v1/token_service_pb.js";

/** Audit events and sessions: domain values <-> proto messages. Only shape. */
const enumName = (action: AuditAction) => action.replace(".", "_").toUpperCase() as keyof typeof pb.AuditAction;

const TO_PROTO = new Map<AuditAction, pb.AuditAction>(AUDIT_ACTIONS.map((a) => [a, pb.AuditAction[enumName(a)]]));
const FROM_PROTO = new Map<pb.AuditAction, AuditAction>(AUDIT_ACTIONS.map((a) => [pb.AuditAction[enumName(a)], a]));

export const toProtoAction = (a: AuditAction): pb.AuditAction => TO_PROTO.get(a)!;
/** undefined for UNSPECIFIED (every action) and for values this server does not know. */
export const fromProtoAction = (a: pb.AuditAction): AuditAction | undefined => FROM_PROTO.get(a);

const ACTOR_KINDS: Record<AuditActorKind, pb.AuditActorKind> = {
  none: pb.AuditActorKind.NONE,
  admin_key: pb.AuditActorKind.ADMIN_KEY,
  cognito_user: pb.AuditActorKind.COGNITO_USER,
  api_key: pb.AuditActorKind.API_KEY,
  session: pb.AuditActorKind.SESSION,
  service: pb.AuditActorKind.SERVICE,
};

const OUTCOMES = { ok: pb.AuditOutcome.OK, failed: pb.AuditOutcome.FAILED, pending: pb.AuditOutcome.UNKNOWN } as const;

export function toAuditEvent(e: AuditEvent): pb.AuditEvent {
  return create(pb.AuditEventSchema, {
    id: e.id,
    time: timestampFromDate(e.time),
    action: toProtoAction(e.action),
    outcome: OUTCOMES[e.outcome],
    code: e.code,
    actor: { kind: ACTOR_KINDS[e.actor.kind], id: e.actor.id, tenantId: e.actor.tenantId },
    tenantId: e.tenantId,
    keyId: e.keyId ?? "",
    sessionId: e.sessionId ?? "",
    peer: e.peer ?? "",
    userAgent: e.userAgent ?? "",
    protocol: e.protocol ?? "",
    detail: e.detail ?? "",
    count: e.count ?? 0,
    firstTime: e.firstTime ? timestampFromDate(e.firstTime) : undefined,
  });
}

export function toSession(s: SessionRecord): pb.Session {
  return create(pb.SessionSchema, {
    id: s.id,
    tenantId: s.tenantId,
    createdAt: timestampFromDate(s.createdAt),
    expiresAt: timestampFromDate(s.expiresAt),
    revokedAt: s.revokedAt ? timestampFromDate(s.revokedAt) : undefined,
    createdBy: s.createdBy,
    revokedBy: s.revokedBy ?? "",
  });
}
