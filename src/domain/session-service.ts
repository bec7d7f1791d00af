import type { Clock } from "../ports/clock.js";
import type { TokenStore } from "../ports/token-store.js";
import { newSessionId, SESSION_TTL_MS } from "./key-rules.js";
import type { SessionRecord } from "./records.js";
import { generateToken } from "./token-format.js";
import { hashToken } from "./token-hash.js";

export interface IssuedSession {
  /** The plaintext: exists only in this value, returned once to the caller. */
  token: string;
  session: SessionRecord;
}

export interface SessionService {
  /** A 1-hour session token for `tenantId`. Allowed for HIPAA tenants. */
  create(tenantId: string, actor: string): Promise<IssuedSession>;
}

export function createSessionService({ store, clock }: { store: TokenStore; clock: Clock }): SessionService {
  return {
    async create(tenantId, actor) {
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
      await store.insertSession(session);
      return { token, session };
    },
  };
}
