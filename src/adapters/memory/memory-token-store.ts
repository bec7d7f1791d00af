import { StoreUnavailableError } from "../../domain/errors.js";
import { defaultPolicy, type KeyRecord, type SessionRecord, type TenantPolicyRecord } from "../../domain/records.js";
import type {
  InsertKeyResult,
  KeyUse,
  PolicyField,
  RotateKeyResult,
  SessionRef,
  TokenStore,
} from "../../ports/token-store.js";
import { createMemoryAuditEvents } from "./memory-audit-events.js";
import { createMemoryLeases } from "./memory-leases.js";

/** A partial policy write (issue 22): only `fields` (and the update stamp) change. */
function patchPolicy(
  current: TenantPolicyRecord | undefined,
  policy: TenantPolicyRecord,
  fields: readonly PolicyField[],
): TenantPolicyRecord {
  const next: TenantPolicyRecord = { ...(current ?? defaultPolicy(policy.tenantId)) };
  for (const f of fields) {
    if (f === "hipaaEnabled") next.hipaaEnabled = policy.hipaaEnabled;
    else if (policy.maxKeyLifetimeMs === undefined) delete next.maxKeyLifetimeMs;
    else next.maxKeyLifetimeMs = policy.maxKeyLifetimeMs;
  }
  next.updatedAt = policy.updatedAt;
  next.updatedBy = policy.updatedBy;
  return next;
}

/**
 * The embedded store: process memory, nothing persisted. Every method does its whole check and
 * write synchronously before its first await, so each operation is atomic with respect to every
 * other (Node runs one JavaScript turn at a time). Returns copies so callers cannot mutate state.
 */
export function createMemoryTokenStore(
  opts: { auditMaxEvents?: number | undefined } = {},
): TokenStore & { auditEventsDropped(): number; keyRecords(): Iterable<KeyRecord> } {
  const keysById = new Map<string, KeyRecord>();
  const keyIdByHash = new Map<string, string>();
  const keyIdsByTenant = new Map<string, string[]>();
  const sessionsByHash = new Map<string, SessionRecord>();
  const policies = new Map<string, TenantPolicyRecord>();
  let closed = false;

  const copy = <T extends object>(r: T): T => ({ ...r });
  const assertOpen = () => {
    if (closed) throw new StoreUnavailableError("memory store is closed");
  };
  // Active keys per tenant, kept in step with every status change (O(1) limit checks however many
  // deprecated and revoked keys a tenant accumulates).
  const activeByTenant = new Map<string, number>();
  const activeCount = (tenantId: string): number => activeByTenant.get(tenantId) ?? 0;
  const countActive = (tenantId: string, delta: number) => activeByTenant.set(tenantId, activeCount(tenantId) + delta);
  const add = (key: KeyRecord): void => {
    if (keysById.has(key.id) || keyIdByHash.has(key.tokenHash)) {
      throw new Error("duplicate key id or token hash");
    }
    keysById.set(key.id, copy(key));
    keyIdByHash.set(key.tokenHash, key.id);
    const ids = keyIdsByTenant.get(key.tenantId);
    if (ids) ids.push(key.id);
    else keyIdsByTenant.set(key.tenantId, [key.id]);
  };
  const tenantKey = (tenantId: string, keyId: string): KeyRecord | undefined => {
    const k = keysById.get(keyId);
    return k && k.tenantId === tenantId ? k : undefined;
  };

  const { dropped: auditEventsDropped, ...audit } = createMemoryAuditEvents(() => closed, opts.auditMaxEvents);
  return {
    ...audit,
    auditEventsDropped,
    /** Every key, for the embedded webhook store's key.expiring schedule (not part of the port). */
    keyRecords: () => keysById.values(),
    ...createMemoryLeases(() => closed),

    async insertKey(key, maxActive): Promise<InsertKeyResult> {
      assertOpen();
      if (activeCount(key.tenantId) >= maxActive) return { ok: false, reason: "limit" };
      add({ ...key, status: "active" });
      countActive(key.tenantId, 1);
      return { ok: true, key: copy(keysById.get(key.id)!) };
    },

    async rotateKey({ tenantId, keyId, successor, revokeAt, maxDeprecated, now }): Promise<RotateKeyResult> {
      assertOpen();
      const old = tenantKey(tenantId, keyId);
      if (!old) return { ok: false, reason: "not_found" };
      if (old.status !== "active") return { ok: false, reason: "not_active" };
      if (old.suspendedAt !== undefined) return { ok: false, reason: "suspended" };
      // Deprecated keys still in their grace (rotations are rare: a scan of the tenant's keys).
      const inGrace = (keyIdsByTenant.get(tenantId) ?? []).filter((id) => {
        const k = keysById.get(id)!;
        return k.status === "deprecated" && k.revokeAt! > now;
      }).length;
      if (inGrace >= maxDeprecated) return { ok: false, reason: "deprecated_limit" };
      // The old key leaves the active set as the successor enters it, in one synchronous step:
      // the active count is unchanged, so the limit cannot be crossed.
      old.status = "deprecated";
      old.revokeAt = revokeAt;
      old.rotatedToKeyId = successor.id;
      add({ ...successor, status: "active", rotatedFromKeyId: keyId });
      return { ok: true, previous: copy(old), key: copy(keysById.get(successor.id)!) };
    },

    async revokeKey({ tenantId, keyId, revokedAt, revokedBy, exposure }) {
      assertOpen();
      const k = tenantKey(tenantId, keyId);
      if (!k) return null;
      if (k.status !== "revoked") {
        if (k.status === "active") countActive(tenantId, -1);
        k.status = "revoked";
        k.revokedAt = revokedAt;
        k.revokedBy = revokedBy;
        if (exposure) k.exposure = { ...exposure };
      }
      return copy(k);
    },

    async findKeyByHash(tokenHash) {
      assertOpen();
      const id = keyIdByHash.get(tokenHash);
      return id === undefined ? null : copy(keysById.get(id)!);
    },

    async getKey(tenantId, keyId) {
      assertOpen();
      const k = tenantKey(tenantId, keyId);
      return k ? copy(k) : null;
    },

    async listKeys(tenantId, revokedLimit) {
      assertOpen();
      const ids = keyIdsByTenant.get(tenantId) ?? [];
      // Newest first; for equal timestamps, later inserts first (the stable sort keeps that order).
      const all = ids.map((id) => keysById.get(id)!).reverse();
      all.sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
      let revoked = 0;
      return all.filter((k) => k.status !== "revoked" || revoked++ < revokedLimit).map(copy);
    },

    async hasUsableKey(tenantId, now) {
      assertOpen();
      return (keyIdsByTenant.get(tenantId) ?? []).some((id) => {
        const k = keysById.get(id)!;
        return k.status === "active" || (k.status === "deprecated" && k.revokeAt! > now);
      });
    },

    async recordKeyUses(uses: readonly KeyUse[]) {
      assertOpen();
      for (const { keyId, at } of uses) {
        const k = keysById.get(keyId);
        if (k && (!k.lastUsedAt || k.lastUsedAt < at)) k.lastUsedAt = at;
      }
    },

    async insertSession(session: SessionRecord) {
      assertOpen();
      if (sessionsByHash.has(session.tokenHash)) throw new Error("duplicate session token hash");
      sessionsByHash.set(session.tokenHash, copy(session));
    },

    async deleteExpiredSessions(now) {
      assertOpen();
      let n = 0;
      for (const [hash, s] of sessionsByHash) {
        if (s.expiresAt <= now) {
          sessionsByHash.delete(hash);
          n++;
        }
      }
      return n;
    },

    async findSessionByHash(tokenHash) {
      assertOpen();
      const s = sessionsByHash.get(tokenHash);
      return s ? copy(s) : null;
    },

    // --- Session revocation and grace expiry (issue 12) ---
    async revokeSession({ tenantId, sessionId, revokedAt, revokedBy }) {
      assertOpen();
      for (const s of sessionsByHash.values()) {
        if (s.id !== sessionId || s.tenantId !== tenantId) continue;
        if (s.revokedAt === undefined) {
          s.revokedAt = revokedAt;
          s.revokedBy = revokedBy;
        }
        return copy(s);
      }
      return null;
    },

    async revokeTenantSessions({ tenantId, revokedAt, revokedBy }) {
      assertOpen();
      let n = 0;
      for (const s of sessionsByHash.values()) {
        if (
          s.tenantId === tenantId &&
          s.revokedAt === undefined &&
          s.expiresAt > revokedAt &&
          s.createdAt <= revokedAt
        ) {
          s.revokedAt = revokedAt;
          s.revokedBy = revokedBy;
          n++;
        }
      }
      return n;
    },

    async revokeSessionsCreatedBy({ createdBy, revokedAt, revokedBy, onRevoked }) {
      assertOpen();
      const sessions: SessionRef[] = [];
      for (const s of sessionsByHash.values()) {
        if (s.createdBy === createdBy && s.revokedAt === undefined && s.expiresAt > revokedAt) {
          s.revokedAt = revokedAt;
          s.revokedBy = revokedBy;
          sessions.push({ tenantId: s.tenantId, sessionId: s.id });
        }
      }
      if (sessions.length > 0) onRevoked?.(sessions);
      return sessions.length;
    },

    async findExpiredKeys(now, limit) {
      assertOpen();
      return [...keysById.values()]
        .filter((k) => k.status === "deprecated" && k.revokeAt! <= now)
        .sort((a, b) => a.revokeAt!.getTime() - b.revokeAt!.getTime())
        .slice(0, limit)
        .map(copy);
    },

    async getPolicy(tenantId) {
      assertOpen();
      const p = policies.get(tenantId);
      return p ? copy(p) : null;
    },

    async setPolicy(policy, fields) {
      assertOpen();
      const saved = fields ? patchPolicy(policies.get(policy.tenantId), policy, fields) : copy(policy);
      policies.set(policy.tenantId, saved);
      return copy(saved);
    },

    // --- Issue 22: expiry, suspend and resume ---
    async suspendKey({ tenantId, keyId, suspendedAt, suspendedBy, byPlatform }) {
      assertOpen();
      const k = tenantKey(tenantId, keyId);
      if (!k) return null;
      if (k.status !== "active") return copy(k);
      if (byPlatform && k.suspendedByPlatform === undefined)
        Object.assign(k, { suspendedAt, suspendedBy, suspendedByPlatform: true });
      else if (!byPlatform && k.suspendedAt === undefined) Object.assign(k, { suspendedAt, suspendedBy });
      return copy(k);
    },

    async resumeKey({ tenantId, keyId, byPlatform }) {
      assertOpen();
      const k = tenantKey(tenantId, keyId);
      if (!k) return null;
      if (k.status !== "revoked" && (byPlatform || k.suspendedByPlatform === undefined)) {
        delete k.suspendedAt;
        delete k.suspendedBy;
        delete k.suspendedByPlatform;
      }
      return copy(k);
    },

    async retirePredecessor({ tenantId, successorId, predecessorId, at, revokedBy }) {
      assertOpen();
      const old = tenantKey(tenantId, predecessorId);
      const retired =
        old !== undefined &&
        old.status === "deprecated" &&
        old.rotatedToKeyId === successorId &&
        old.revokeAt !== undefined &&
        old.revokeAt > at;
      if (retired) Object.assign(old, { status: "revoked", revokedAt: at, revokedBy });
      const successor = tenantKey(tenantId, successorId);
      if (successor) delete successor.retireOnFirstUse;
      return retired;
    },

    async findKeysPastExpiry(now, limit) {
      assertOpen();
      return [...keysById.values()]
        .filter((k) => k.status !== "revoked" && k.expiresAt !== undefined && k.expiresAt <= now)
        .sort((a, b) => a.expiresAt!.getTime() - b.expiresAt!.getTime())
        .slice(0, limit)
        .map(copy);
    },

    async ping() {
      assertOpen();
    },

    async close() {
      closed = true;
    },
  };
}
