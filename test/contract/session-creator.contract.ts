// The admin-key part of THE store contract (called from token-store.contract.ts, so it runs against
// every adapter): revokeSessionsCreatedBy, the sessions an admin key created on every tenant, which
// RevokeKey of that key revokes with it.
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { newKeyId, newSessionId } from "../../src/domain/key-rules.js";
import type { SessionRecord } from "../../src/domain/records.js";
import type { SessionRef, TokenStore } from "../../src/ports/token-store.js";

const T0 = Date.parse("2030-01-01T00:00:00.000Z");
const at = (ms: number) => new Date(T0 + ms);
const HOUR = 3600_000;
const tenant = () => `t-${randomBytes(6).toString("hex")}`;

function session(tenantId: string, createdBy: string, over: Partial<SessionRecord> = {}): SessionRecord {
  return {
    id: newSessionId(),
    tenantId,
    tokenHash: randomBytes(32).toString("base64url"),
    createdAt: at(0),
    expiresAt: at(2 * HOUR),
    createdBy,
    ...over,
  };
}

/** The call, with what it told `onRevoked` (in order, across its writes). */
async function revokeCreatedBy(store: TokenStore, createdBy: string, revokedAt: Date) {
  const sessions: SessionRef[] = [];
  const revokedCount = await store.revokeSessionsCreatedBy({
    createdBy,
    revokedAt,
    revokedBy: "key_ops",
    onRevoked: (batch) => sessions.push(...batch),
  });
  return { revokedCount, sessions };
}

export function sessionCreatorContract(current: () => TokenStore): void {
  describe("sessions: revocation by creator (an admin key's RevokeKey)", () => {
    it("revokes the creator's live sessions on every tenant, answers how many and which; others are untouched", async () => {
      const store = current();
      const creator = newKeyId();
      const [a, b] = [tenant(), tenant()];
      const mine = [session(a, creator), session(a, creator, { expiresAt: at(3 * HOUR) }), session(b, creator)];
      const otherKey = session(a, newKeyId());
      const cognito = session(b, "3f1c9a52-7e0d-4c1b-9b1e-8a2d5c6e7f80");
      const sessionMade = session(b, newSessionId());
      const expired = session(a, creator, { expiresAt: at(HOUR) });
      const already = session(b, creator);
      for (const s of [...mine, otherKey, cognito, sessionMade, expired, already]) await store.insertSession(s);
      await store.revokeSession({ tenantId: b, sessionId: already.id, revokedAt: at(HOUR / 2), revokedBy: "first" });

      const r = await revokeCreatedBy(store, creator, at(HOUR));
      expect(r.revokedCount).toBe(3);
      const ids = (list: SessionRef[]) => list.map((s) => `${s.tenantId}/${s.sessionId}`).sort();
      expect(ids(r.sessions)).toEqual(ids(mine.map((s) => ({ tenantId: s.tenantId, sessionId: s.id }))));
      for (const s of mine)
        expect(await store.findSessionByHash(s.tokenHash)).toEqual({ ...s, revokedAt: at(HOUR), revokedBy: "key_ops" });
      for (const s of [otherKey, cognito, sessionMade, expired])
        expect(await store.findSessionByHash(s.tokenHash)).toEqual(s);
      expect((await store.findSessionByHash(already.tokenHash))!.revokedBy).toBe("first");
    });

    it("takes a session created after the revoke time too (the creator is revoked); a second call finds nothing", async () => {
      const store = current();
      const creator = newKeyId();
      const later = session(tenant(), creator, { createdAt: at(HOUR + 1), expiresAt: at(2 * HOUR + 1) });
      await store.insertSession(later);
      const r = await revokeCreatedBy(store, creator, at(HOUR));
      expect(r).toEqual({ revokedCount: 1, sessions: [{ tenantId: later.tenantId, sessionId: later.id }] });
      expect(await revokeCreatedBy(store, creator, at(HOUR + 5))).toEqual({ revokedCount: 0, sessions: [] });
      expect(await revokeCreatedBy(store, newKeyId(), at(HOUR))).toEqual({ revokedCount: 0, sessions: [] });
      // Without onRevoked: the count alone.
      const again = session(tenant(), creator);
      await store.insertSession(again);
      expect(await store.revokeSessionsCreatedBy({ createdBy: creator, revokedAt: at(HOUR), revokedBy: "k" })).toBe(1);
    });
  });
}
