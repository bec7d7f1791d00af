import { DomainError } from "./errors.js";
import { NOT_VALID } from "./principal.js";
import { newSessionId, SESSION_TTL_MS } from "./key-rules.js";
import type { SessionRecord } from "./records.js";
import type { ServiceDeps } from "./service-deps.js";
import { generateToken } from "./token-format.js";
import { ADMIN_TENANT_ID } from "./tenant-id.js";
import { hashToken } from "./token-hash.js";
import { directUnitOfWork, type UnitOfWork } from "../ports/unit-of-work.js";

export interface IssuedSession {
  /** The plaintext: exists only in this value, returned once to the caller. */
  token: string;
  session: SessionRecord;
}

export interface SessionService {
  /** A 1-hour session token for `tenantId`. Allowed for HIPAA tenants. */
  /** `scopes`: validated, already checked against what the caller may grant (undefined: none). */
  /**
   * `adminKey`: `actor` is the id of the admin key the caller authenticated with. That key's
   * RevokeKey revokes the sessions it created (revokeCreatedBy); a create that authenticated just
   * before the revoke may store its session after that walk. So the key is read again once the
   * session is stored: revoked by then, the session is revoked and the call is UNAUTHENTICATED (its
   * plaintext never leaves). Either the read sees the revoke, or it ran before the revoke's write,
   * so the insert landed before the walk began and the walk revokes the session.
   */
  create(tenantId: string, actor: string, scopes?: string[], opts?: { adminKey?: boolean }): Promise<IssuedSession>;
  /**
   * Revokes one session now. Revoking twice answers the same record; a session of another tenant
   * (or none) is NOT_FOUND. This instance's cache forgets it at once; other instances through the
   * change feed (MongoDB) or within the cache TTL.
   */
  revoke(tenantId: string, sessionId: string, actor: string): Promise<SessionRecord>;
  /** Revokes every live session of the tenant; answers how many. Later sessions are unaffected. */
  revokeAll(tenantId: string, actor: string): Promise<number>;
  /**
   * Revokes every live session `creator` (an admin key's id) created, on every tenant: RevokeKey of
   * that admin key (key-service.ts). Answers how many this call revoked. Watchers hear of each
   * session once it is stored (session_revoked); this instance's cache forgets them at once, other
   * instances through the change feed (MongoDB) or within the cache TTL. A store that stops part-way
   * throws PartialRevocationError with its count; calling again revokes the rest.
   */
  revokeCreatedBy(creator: string, actor: string): Promise<number>;
}

export function createSessionService({
  store,
  clock,
  cache,
  publish = () => {},
  unit = directUnitOfWork,
}: ServiceDeps & {
  /**
   * The caller's unit of work (CreateSession runs in one: a transaction on a replica set). An admin
   * key's session is stored and its key read again outside it (see create).
   */
  unit?: UnitOfWork | undefined;
}): SessionService {
  return {
    async create(tenantId, actor, scopes, opts = {}) {
      const now = clock.now();
      const token = generateToken("session", tenantId);
      const session: SessionRecord = {
        id: newSessionId(),
        tenantId,
        tokenHash: hashToken(token),
        createdAt: now,
        // Whole seconds, rounded down (as in the docs: "2026-02-22T15:30:00Z"): never later than 1 hour.
        expiresAt: new Date(Math.floor((now.getTime() + SESSION_TTL_MS) / 1000) * 1000),
        createdBy: actor,
      };
      if (scopes?.length) session.scopes = [...scopes];
      // With an admin key, the insert, the re-read and its revoke never in the call's transaction:
      // there the session would stay invisible to a RevokeKey's walk until the commit, and the
      // re-read would read the transaction's snapshot (from before the revoke): neither would see
      // the other, and the session would outlive its key's revoke.
      const stored = async () => {
        await store.insertSession(session);
        cache.delete(session.tokenHash); // as for a new key: no NOT_FOUND cached before it existed survives
        if (!opts.adminKey) return;
        // After the insert, the store's record, not a cached answer: see create() above.
        const creator = await store.getKey(ADMIN_TENANT_ID, actor);
        if (creator !== null && creator.status !== "revoked") return;
        await store
          .revokeSession({ tenantId, sessionId: session.id, revokedAt: clock.now(), revokedBy: actor })
          .catch(() => null) // best effort: nobody ever has its plaintext
          .finally(() => cache.deleteSession(session.id));
        // The words of every other invalid credential (principal.ts): nothing more is said of it.
        throw new DomainError("unauthenticated", NOT_VALID);
      };
      await (opts.adminKey ? unit.outside(stored) : stored());
      publish({ kind: "session_created", tenantId, sessionId: session.id });
      return { token, session };
    },

    async revoke(tenantId, sessionId, actor) {
      const revoked = await store
        .revokeSession({ tenantId, sessionId, revokedAt: clock.now(), revokedBy: actor })
        .finally(() => {
          cache.deleteSession(sessionId); // even on failure: the write may have landed
          publish({ kind: "session_revoked", tenantId, sessionId });
        });
      if (!revoked) throw new DomainError("not_found", `session_id: no session ${sessionId} for this tenant`);
      return revoked;
    },

    async revokeAll(tenantId, actor) {
      try {
        return await store.revokeTenantSessions({ tenantId, revokedAt: clock.now(), revokedBy: actor });
      } finally {
        cache.deleteTenantSessions(tenantId);
        publish({ kind: "tenant_sessions_revoked", tenantId });
      }
    },

    async revokeCreatedBy(creator, actor) {
      try {
        return await store.revokeSessionsCreatedBy({
          createdBy: creator,
          revokedAt: clock.now(),
          revokedBy: actor,
          // Per written batch (MongoDB writes many): the cache and watchers learn of it at once.
          onRevoked: (sessions) => {
            for (const { tenantId, sessionId } of sessions) {
              cache.deleteSession(sessionId);
              publish({ kind: "session_revoked", tenantId, sessionId });
            }
          },
        });
      } finally {
        cache.deleteSessionsCreatedBy(creator); // and all of them, even on failure: part of a write may have landed
      }
    },
  };
}
