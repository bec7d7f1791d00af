// The client's cache of Introspect answers, keyed by the token's SHA-256 (never the plaintext),
// bounded (LRU), with the indexes the invalidation stream needs: key id and session id -> hash,
// tenant -> hashes. Time is the caller's clock (milliseconds), never lru-cache's own, so every
// bound is exact under an injected clock. Which entry may answer is decided by the caller
// (token-client.ts); this file only stores, finds and drops.
import { LRUCache } from "lru-cache";
import {
  InactiveReason,
  InvalidationKind,
  type Invalidation,
  type IntrospectResponse,
  TokenType,
} from "../gen/warpflow/auth/v1/token_service_pb.js";
import { inactiveAnswer } from "./local-check.js";

/** Kinds that only take an existing token away: they never turn a not-found answer wrong. */
const REMOVALS = new Set<InvalidationKind>([
  InvalidationKind.KEY_REVOKED,
  InvalidationKind.KEY_ROTATED,
  InvalidationKind.KEY_GRACE_ENDED,
  InvalidationKind.SESSION_REVOKED,
  InvalidationKind.KEY_SUSPENDED, // issue 22 (KEY_RESUMED may turn a SUSPENDED answer wrong: not here)
]);

/**
 * Kinds that make the named key or session inactive for good: the cached answer for that id becomes
 * the server's own answer for it (REVOKED: the server checks revocation before expiry and before a
 * HIPAA tenant's policy), kept whether or not the stream is healthy. Not TENANT_SESSIONS_REVOKED: it
 * spares a session created while it ran (createdAt after its revokedAt), which a client may already
 * hold, so those entries are dropped and asked again.
 */
const FINAL = new Map<InvalidationKind, "keyId" | "sessionId">([
  [InvalidationKind.KEY_REVOKED, "keyId"],
  [InvalidationKind.KEY_GRACE_ENDED, "keyId"],
  [InvalidationKind.SESSION_REVOKED, "sessionId"],
]);
const REVOKED = inactiveAnswer(InactiveReason.REVOKED);
/** The server's answer for an API key of a HIPAA tenant (introspector.ts keyResult): nothing else set. */
const TENANT_POLICY = inactiveAnswer(InactiveReason.TENANT_POLICY);

export interface CachedAnswer {
  /** The server's answer to an Introspect without expected_tenant_id (or an inactive one). */
  answer: IntrospectResponse;
  /** Tenant of the token (the answer's, or the opaque token's prefix); "" when unknown (an inactive JWT). */
  tenantId: string;
  /** The answer's expires_at in ms (sessions, JWTs, deprecated keys); Infinity when unset. */
  expiresAtMs: number;
  /** Not to be answered from after this instant (caller's clock, ms). */
  validUntilMs: number;
  /**
   * validUntilMs, and for an active answer also expiresAtMs, whichever is first: the one instant a
   * hit compares with (entryOf computes it), so a hit reads this entry alone, not its answer.
   */
  freshUntilMs: number;
  /** A revocation the stream announced: answered inactive whatever the stream's health. */
  final: boolean;
  /** The key id of an answer that no longer names it (a HIPAA tenant's TENANT_POLICY answer), for the id index. */
  keyId: string | undefined;
  /**
   * The answer as an already-settled promise, made at this entry's first awaited hit and returned
   * by every later one (an awaited hit then allocates nothing and looks up no `then`).
   */
  settled: Promise<IntrospectResponse> | undefined;
}

/**
 * Every entry is built here, with the same fields in the same order: one object shape for the
 * hit path's reads (entries made in three places with three shapes made them polymorphic).
 */
export function entryOf(
  answer: IntrospectResponse,
  tenantId: string,
  expiresAtMs: number,
  validUntilMs: number,
  final = false,
  keyId: string | undefined = undefined,
): CachedAnswer {
  const freshUntilMs = answer.active ? Math.min(validUntilMs, expiresAtMs) : validUntilMs;
  return { answer, tenantId, expiresAtMs, validUntilMs, freshUntilMs, final, keyId, settled: undefined };
}

export interface AnswerCache {
  get(hash: string): CachedAnswer | undefined;
  set(hash: string, entry: CachedAnswer): void;
  /** Applies one invalidation of the stream (at `nowMs`, the caller's clock); moves the epoch. */
  invalidate(inv: Invalidation, nowMs: number): void;
  /** Drops everything (a reset, a gap, a new server instance); moves the epoch. */
  clear(): void;
  /** Moves on at every invalidation and clear: an answer read at an older epoch is not cached. */
  readonly epoch: number;
  /**
   * Whether an invalidation named this active answer's key, session or tenant (a tenant-wide
   * one), or named nothing (everything), at or after `sinceMs`: see TokenClientOptions.settleMs.
   */
  changedSince(answer: IntrospectResponse, sinceMs: number): boolean;
  readonly size: number;
}

const idOf = (e: CachedAnswer) => e.keyId || e.answer.keyId || e.answer.sessionId;

/** Kinds that only bring a token into use: they never make an active answer wrong. */
const GRANTS = new Set<InvalidationKind>([
  InvalidationKind.KEY_CREATED,
  InvalidationKind.SESSION_CREATED,
  InvalidationKind.KEY_RESUMED,
]);

/** Recent invalidations kept for changedSince: pruned past this many (the oldest half). */
const RECENT_MAX = 10_000;

export function createAnswerCache(maxEntries: number): AnswerCache {
  /** When each id ("k:" key, "s:" session, "t:" tenant-wide) was last invalidated (caller's ms). */
  const recent = new Map<string, number>();
  let clearedAtMs = -Infinity;
  const noteRecent = (id: string, nowMs: number) => {
    recent.delete(id); // re-inserted last: the map stays in time order
    recent.set(id, nowMs);
    if (recent.size > RECENT_MAX) {
      let drop = recent.size >> 1;
      for (const k of recent.keys()) {
        if (drop-- <= 0) break;
        recent.delete(k);
      }
    }
  };
  const byId = new Map<string, string>();
  const byTenant = new Map<string, Set<string>>();
  const unindex = (hash: string, e: CachedAnswer) => {
    const id = idOf(e);
    if (id && byId.get(id) === hash) byId.delete(id);
    const set = byTenant.get(e.tenantId);
    if (set) {
      set.delete(hash);
      if (set.size === 0) byTenant.delete(e.tenantId);
    }
  };
  const lru = new LRUCache<string, CachedAnswer>({
    max: Math.max(1, maxEntries),
    dispose: (value, hash) => unindex(hash, value),
  });
  let epoch = 0;

  const dropId = (id: string) => {
    const hash = byId.get(id);
    if (hash !== undefined) lru.delete(hash);
  };
  /**
   * The active answer cached for a revoked id becomes REVOKED, as the server now answers. Dropped
   * instead when the server might answer otherwise: the entry names another tenant than the
   * invalidation (a RevokeSession with the wrong tenant still announces the id), or it is already
   * past its expires_at (the server may say EXPIRED).
   */
  const revokeId = (field: "keyId" | "sessionId", id: string, tenantId: string, nowMs: number) => {
    const hash = byId.get(id);
    if (hash === undefined) return;
    const e = lru.peek(hash);
    if (!e) return;
    if (
      !e.answer.active ||
      e.answer[field] !== id ||
      (tenantId !== "" && e.tenantId !== tenantId) ||
      e.expiresAtMs <= nowMs
    ) {
      lru.delete(hash);
      return;
    }
    set(hash, entryOf(REVOKED, e.tenantId, Infinity, Infinity, true));
  };
  const set = (hash: string, entry: CachedAnswer) => {
    lru.set(hash, entry);
    const id = idOf(entry);
    if (id) byId.set(id, hash);
    let members = byTenant.get(entry.tenantId);
    if (!members) byTenant.set(entry.tenantId, (members = new Set()));
    members.add(hash);
  };
  // A revoked id stays revoked whatever else changes (policy, creations): final entries are kept.
  const dropTenant = (tenantId: string, onlyNegative: boolean) => {
    const set = byTenant.get(tenantId);
    if (!set) return;
    for (const hash of [...set]) {
      const e = lru.peek(hash);
      if (e && !e.final && (!onlyNegative || !e.answer.active)) lru.delete(hash);
    }
  };
  /**
   * The tenant now has HIPAA on: the server answers its API keys TENANT_POLICY (after the revoke
   * check; admin keys are exempt) and its sessions and JWTs as before (introspector.ts). Each cached
   * active API-key answer becomes TENANT_POLICY, answered under the usual rules (stream healthy,
   * validUntilMs) and not final: any later invalidation of the tenant drops it like any negative
   * answer. Kept: the tenant's sessions and JWTs. Dropped as today: negative answers, admin keys, and
   * a deprecated key at or past its expires_at (the server may answer REVOKED). A deprecated key's
   * TENANT_POLICY answer is asked again from its expires_at on.
   */
  const hipaaTenant = (tenantId: string, nowMs: number) => {
    const members = byTenant.get(tenantId);
    if (!members) return;
    for (const hash of [...members]) {
      const e = lru.peek(hash);
      if (!e || e.final) continue;
      const a = e.answer;
      if (a.active && a.tokenType !== TokenType.API_KEY) continue;
      if (!a.active || a.admin || a.keyId === "" || e.expiresAtMs <= nowMs) {
        lru.delete(hash);
        continue;
      }
      set(
        hash,
        entryOf(TENANT_POLICY, e.tenantId, e.expiresAtMs, Math.min(e.validUntilMs, e.expiresAtMs), false, a.keyId),
      );
    }
  };
  const dropAllNegative = () => {
    const drop: string[] = [];
    for (const [hash, e] of lru.entries()) if (!e.answer.active && !e.final) drop.push(hash);
    for (const hash of drop) lru.delete(hash);
  };

  return {
    get: (hash) => lru.get(hash),
    set,
    invalidate(inv, nowMs) {
      // By id, whatever the kind (docs/watch-protocol.md); the kind only matters for a change known
      // by id alone (from another instance's feed: no tenant id), which may be a creation.
      epoch++;
      const ids = inv.keyId !== "" || inv.sessionId !== "";
      // For changedSince: what can turn an active answer wrong (a creation or a resume cannot: a
      // lagging instance answers those inactive, which fails closed).
      if (!GRANTS.has(inv.kind)) {
        if (inv.keyId) noteRecent(`k:${inv.keyId}`, nowMs);
        if (inv.sessionId) noteRecent(`s:${inv.sessionId}`, nowMs);
        if (!ids && inv.tenantId) noteRecent(`t:${inv.tenantId}`, nowMs);
        if (!ids && !inv.tenantId) clearedAtMs = nowMs;
      }
      const final = FINAL.get(inv.kind);
      if (inv.keyId) {
        if (final === "keyId") revokeId(final, inv.keyId, inv.tenantId, nowMs);
        else dropId(inv.keyId);
      }
      if (inv.sessionId) {
        if (final === "sessionId") revokeId(final, inv.sessionId, inv.tenantId, nowMs);
        else dropId(inv.sessionId);
      }
      if (!ids) {
        if (inv.tenantId && inv.kind === InvalidationKind.TENANT_POLICY_CHANGED && inv.hipaaEnabled === true)
          hipaaTenant(inv.tenantId, nowMs);
        else if (inv.tenantId) dropTenant(inv.tenantId, false);
        else lru.clear(); // names nothing: drop everything
      } else if (inv.tenantId) dropTenant(inv.tenantId, true);
      else if (!REMOVALS.has(inv.kind)) dropAllNegative();
    },
    clear() {
      epoch++;
      lru.clear();
    },
    changedSince(answer, sinceMs) {
      if (clearedAtMs >= sinceMs) return true;
      const at = (id: string) => (recent.get(id) ?? -Infinity) >= sinceMs;
      return (
        (answer.keyId !== "" && at(`k:${answer.keyId}`)) ||
        (answer.sessionId !== "" && at(`s:${answer.sessionId}`)) ||
        (answer.tenantId !== "" && at(`t:${answer.tenantId}`))
      );
    },
    get epoch() {
      return epoch;
    },
    get size() {
      return lru.size;
    },
  };
}
