import { DomainError } from "./errors.js";
import {
  effectiveKey,
  LIST_KEYS_LIMIT,
  MAX_ACTIVE_KEYS_PER_TENANT,
  MAX_DEPRECATED_KEYS_PER_TENANT,
  newKeyId,
} from "./key-rules.js";
import type { LastUsedRecorder } from "./last-used-recorder.js";
import type { KeyRecord } from "./records.js";
import { defaultPolicy } from "./records.js";
import { ADMIN_TENANT_ID } from "./tenant-id.js";
import type { ServiceDeps } from "./service-deps.js";
import { generateToken, tokenHint } from "./token-format.js";
import { keyInactiveReason, requireGraceMs, resolveExpiry, successorExpiry, type ExpiryRequest } from "./key-expiry.js";
import { createKeySuspension, type KeySuspension } from "./key-suspension.js";
import { hashToken } from "./token-hash.js";
import { requireWithinCreator } from "./key-scopes.js";
import { directUnitOfWork, type UnitOfWork } from "../ports/unit-of-work.js";
import type { SessionService } from "./session-service.js";

export interface IssuedKey {
  /** The plaintext: exists only in this value, returned once to the caller. */
  token: string;
  key: KeyRecord;
}

export interface KeyService extends KeySuspension {
  /**
   * Creates a key. With `token` the caller supplies the plaintext (already saved somewhere, like the
   * bootstrap admin key file) and owns an unknown outcome: no background revoke then.
   */
  create(
    tenantId: string,
    label: string,
    actor: string,
    opts?: { token?: string; expiry?: ExpiryRequest } & KeyGrants,
  ): Promise<IssuedKey>;
  /**
   * Issue 22: `opts`: the successor's scopes / allowlist (a field left out is inherited from the old
   * key), `graceMs` 0..72 h (default 72 h; 0 revokes the old key at once), the successor's expiry.
   */
  rotate(
    tenantId: string,
    keyId: string,
    actor: string,
    opts?: SuccessorGrants & {
      graceMs?: number | undefined;
      expiry?: ExpiryRequest;
      retireOnFirstUse?: boolean | undefined;
      /** The caller's own scopes: the successor's must be a non-empty subset of them (undefined: no bound). */
      creatorScopes?: readonly string[] | undefined;
    },
  ): Promise<IssuedKey & { previous: KeyRecord }>;
  /**
   * Revokes a key. An admin key (tenant `admin`) takes the sessions it created with it, on every
   * tenant, each time (a retry after a partial revoke, or of a key already revoked, finishes the
   * job); `onSessionsRevoked` is told how many this call revoked. A rotation never does: it is routine.
   */
  revoke(
    tenantId: string,
    keyId: string,
    actor: string,
    opts?: { onSessionsRevoked?: ((count: number) => void) | undefined },
  ): Promise<KeyRecord>;
  list(tenantId: string): Promise<KeyRecord[]>;
}

/** What a key may do and from where (issue 22): validated and normalised; undefined: none. */
export interface KeyGrants {
  scopes?: string[] | undefined;
  allowedCidrs?: string[] | undefined;
}

/** A rotation's choice per field: absent = inherit, `{ set }` = the successor's value (undefined: none). */
export interface SuccessorGrants {
  scopes?: { set: string[] | undefined } | undefined;
  allowedCidrs?: { set: string[] | undefined } | undefined;
}

export interface KeyServiceDeps extends ServiceDeps {
  lastUsed: LastUsedRecorder;
  /** Issue 22: stores the tenant's keys past their expiry as revoked (with key.expired); answers how many. */
  expireTenantKeys?: ((tenantId: string) => Promise<number>) | undefined;
  /** The caller's unit of work (issue 24): a key stored in one whose commit result is unknown is an orphan too. */
  unit?: UnitOfWork | undefined;
  /** Revokes the sessions an admin key created (session-service.ts): RevokeKey on the `admin` tenant. */
  sessions: Pick<SessionService, "revokeCreatedBy">;
}

/**
 * API key lifecycle. Validation of ids and labels happens at the edge (transport); this service
 * enforces the lifecycle rules and leaves every invariant to one atomic store operation.
 */
export function createKeyService(deps: KeyServiceDeps): KeyService {
  const { store, clock, cache, lastUsed, publish = () => {} } = deps;
  const notFound = (keyId: string) => new DomainError("not_found", `key_id: no key ${keyId} for this tenant`);

  /** Refuses a HIPAA tenant; answers the tenant's maximum key lifetime (issue 22), if any. */
  async function assertKeysAllowed(tenantId: string): Promise<number | undefined> {
    if (tenantId === ADMIN_TENANT_ID) return undefined;
    const policy = (await store.getPolicy(tenantId)) ?? defaultPolicy(tenantId);
    if (policy.hipaaEnabled) {
      throw new DomainError(
        "failed_precondition",
        `tenant ${tenantId} is HIPAA-enabled: API keys are disabled (use Cognito or session tokens)`,
      );
    }
    return policy.maxKeyLifetimeMs;
  }

  function mint(
    tenantId: string,
    label: string,
    actor: string,
    now: Date,
    given?: string,
    grants: KeyGrants = {},
  ): IssuedKey {
    const token = given ?? generateToken("api_key", tenantId);
    const key: KeyRecord = {
      id: newKeyId(),
      tenantId,
      label,
      tokenHash: hashToken(token),
      hint: tokenHint(token, "api_key", tenantId),
      status: "active",
      createdAt: now,
      createdBy: actor,
    };
    if (grants.scopes?.length) key.scopes = [...grants.scopes];
    if (grants.allowedCidrs?.length) key.allowedCidrs = [...grants.allowedCidrs];
    return { token, key };
  }

  /**
   * The view callers see: grace expiry applied, and a use still waiting to be flushed (`seen`: the
   * recorder's snapshot taken before the record was read, see LastUsedRecorder.snapshot).
   */
  function view(key: KeyRecord, now: Date, seen: (keyId: string) => Date | undefined): KeyRecord {
    const k = effectiveKey(key, now);
    const pending = seen(k.id);
    return pending && (!k.lastUsedAt || k.lastUsedAt < pending) ? { ...k, lastUsedAt: pending } : k;
  }

  /**
   * Runs a write that issues `key`. If it fails without an answer (UNAVAILABLE: a timeout, a lost
   * connection), the store may still apply it later, leaving a key whose plaintext nobody received.
   * Such a key is revoked in the background (retried for about a minute, until the store answers
   * and the late write, if any, has landed), so a failed create or rotation never leaves a usable
   * key behind and never holds one of the tenant's 3 slots for long. A rotation whose outcome is
   * unknown may still have deprecated the old key (it stays valid for its 72-hour grace): the
   * caller sees UNAVAILABLE and ListKeys shows the state.
   */
  async function unacknowledged<T>(key: KeyRecord, write: () => Promise<T>): Promise<T> {
    try {
      const result = await write();
      // In a unit's transaction the write lands with the commit: if that fails with its result
      // unknown, the caller is told UNAVAILABLE and never gets the plaintext, as above.
      if ((result as { ok?: boolean }).ok !== false) deps.unit?.ifCommitUnknown(() => void revokeOrphan(key));
      return result;
    } catch (err) {
      if (err instanceof DomainError && err.code === "unavailable") void revokeOrphan(key);
      throw err;
    }
  }

  async function revokeOrphan(key: KeyRecord): Promise<void> {
    // ~160 s in all: far longer than a write can land late (MongoDB's rotation transaction is
    // bounded by STORE_TIMEOUT_MS, and a commit in flight at that deadline by its maxCommitTimeMS).
    for (let attempt = 0, delay = 500; attempt < 14; attempt++, delay *= 2) {
      await new Promise((r) => setTimeout(r, Math.min(delay, 15_000)).unref());
      try {
        const revoked = await store.revokeKey({
          tenantId: key.tenantId,
          keyId: key.id,
          revokedAt: clock.now(),
          revokedBy: "system:unacknowledged-write",
        });
        // Found and revoked: done. Not found: the write never landed, or has not yet; keep watching.
        if (revoked) {
          publish({ kind: "key_revoked", tenantId: key.tenantId, keyId: key.id });
          return;
        }
      } catch {
        // The store still cannot answer: try again later.
      }
    }
  }

  return {
    ...createKeySuspension(deps),

    async create(tenantId, label, actor, opts = {}) {
      const maxLifetimeMs = await assertKeysAllowed(tenantId);
      const now = clock.now();
      const issued = mint(tenantId, label, actor, now, opts.token, opts);
      const expiresAt = resolveExpiry(opts.expiry, maxLifetimeMs, now);
      if (expiresAt) issued.key.expiresAt = expiresAt;
      const insert = () => store.insertKey(issued.key, MAX_ACTIVE_KEYS_PER_TENANT);
      let result = await (opts.token === undefined ? unacknowledged(issued.key, insert) : insert());
      // At the limit: keys that expired since the last sweep free their places now (issue 22).
      if (!result.ok && deps.expireTenantKeys && (await deps.expireTenantKeys(tenantId)) > 0) {
        result = await (opts.token === undefined ? unacknowledged(issued.key, insert) : insert());
      }
      if (!result.ok) {
        throw new DomainError(
          "resource_exhausted",
          `tenant ${tenantId} already has ${MAX_ACTIVE_KEYS_PER_TENANT} active keys: revoke or rotate one`,
        );
      }
      // A given plaintext (an operator-supplied admin key) may have been asked about before it was
      // stored: its cached NOT_FOUND goes (callers told KEY_CREATED ask again).
      cache.delete(result.key.tokenHash);
      publish({ kind: "key_created", tenantId, keyId: result.key.id });
      return { token: issued.token, key: result.key };
    },

    async rotate(tenantId, keyId, actor, opts = {}) {
      const seen = lastUsed.snapshot();
      const maxLifetimeMs = await assertKeysAllowed(tenantId);
      const graceMs = requireGraceMs(opts.graceMs);
      const now = clock.now();
      const current = await store.getKey(tenantId, keyId);
      if (!current) throw notFound(keyId);
      // Issue 22: an expired key (not swept yet: still stored ACTIVE) is not rotated into a fresh one.
      if (keyInactiveReason(current, now) === "expired") {
        throw new DomainError("failed_precondition", `key ${keyId} is expired: only active keys can be rotated`);
      }
      if (current.suspendedAt !== undefined && effectiveKey(current, now).status === "active") {
        throw new DomainError("failed_precondition", `key ${keyId} is suspended: resume it before rotating it`);
      }
      const scopes = opts.scopes ? opts.scopes.set : current.scopes;
      requireWithinCreator(opts.creatorScopes, scopes);
      const issued = mint(tenantId, current.label, actor, now, undefined, {
        scopes,
        allowedCidrs: opts.allowedCidrs ? opts.allowedCidrs.set : current.allowedCidrs,
      });
      const expiresAt = successorExpiry(current, opts.expiry, maxLifetimeMs, now);
      if (expiresAt) issued.key.expiresAt = expiresAt;
      if (opts.retireOnFirstUse && graceMs > 0) issued.key.retireOnFirstUse = true;
      const result = await unacknowledged(issued.key, () =>
        store.rotateKey({
          tenantId,
          keyId,
          successor: { ...issued.key, rotatedFromKeyId: keyId },
          revokeAt: new Date(now.getTime() + graceMs),
          maxActive: MAX_ACTIVE_KEYS_PER_TENANT,
          maxDeprecated: MAX_DEPRECATED_KEYS_PER_TENANT,
          now,
        }),
      ).finally(() => {
        cache.delete(current.tokenHash); // even on failure: the write may have landed
        publish({ kind: "key_rotated", tenantId, keyId });
        publish({ kind: "key_created", tenantId, keyId: issued.key.id });
      });
      if (!result.ok) {
        if (result.reason === "not_found") throw notFound(keyId);
        // Suspended between our read and the write (a racing SuspendKey): the write changed nothing.
        if (result.reason === "suspended") {
          throw new DomainError("failed_precondition", `key ${keyId} is suspended: resume it before rotating it`);
        }
        if (result.reason === "deprecated_limit") {
          throw new DomainError(
            "resource_exhausted",
            `tenant ${tenantId} already has ${MAX_DEPRECATED_KEYS_PER_TENANT} deprecated keys in their grace period (the limit): revoke a deprecated key first; ${keyId} was not rotated`,
          );
        }
        if (result.reason === "limit") {
          // No active-key slot for the successor (on standalone MongoDB: a concurrent CreateKey
          // took the slot the rotation freed; in a transaction: no slot free at all).
          throw new DomainError(
            "resource_exhausted",
            `tenant ${tenantId} has no free active-key slot (limit ${MAX_ACTIVE_KEYS_PER_TENANT}) for the successor of ${keyId} (a concurrent CreateKey may have taken it); no new key was issued: check ListKeys, revoke a key, then retry`,
          );
        }
        // Not active at the write (rotated or revoked since our read): its state now, not the read's.
        const after = (await store.getKey(tenantId, keyId).catch(() => null)) ?? current;
        const state = effectiveKey(after, now).status;
        throw new DomainError(
          "failed_precondition",
          state === "active"
            ? `key ${keyId} changed while it was being rotated: only active keys can be rotated`
            : `key ${keyId} is ${state}: only active keys can be rotated`,
        );
      }
      // Grace 0: the old key stopped working at `now` (revokeAt); store it as revoked by this call
      // too (best effort: reads already treat it as revoked, and the sweep would store it).
      const previous =
        graceMs === 0
          ? ((await store.revokeKey({ tenantId, keyId, revokedAt: now, revokedBy: actor }).catch(() => null)) ??
            result.previous)
          : result.previous;
      return { token: issued.token, key: result.key, previous: view(previous, now, seen) };
    },

    async revoke(tenantId, keyId, actor, opts = {}) {
      const seen = lastUsed.snapshot();
      const now = clock.now();
      const current = await store.getKey(tenantId, keyId);
      if (!current) throw notFound(keyId);
      // A key whose grace already ended is revoked as of revoke_at, so revoking it changes nothing.
      const past = effectiveKey(current, now);
      const revoked = await store
        .revokeKey({
          tenantId,
          keyId,
          revokedAt: past.status === "revoked" && past.revokedAt ? past.revokedAt : now,
          revokedBy: past.status === "revoked" ? undefined : actor,
        })
        .finally(() => {
          cache.delete(current.tokenHash); // even on failure: the write may have landed
          publish({ kind: "key_revoked", tenantId, keyId });
        });
      if (!revoked) throw notFound(keyId);
      if (tenantId === ADMIN_TENANT_ID) {
        // Never in the call's transaction (issue 24): possibly many sessions, in batches under the
        // store's own budget, as RevokeTenantSessions. After the key: a session minted with it
        // meanwhile is among them.
        const sessions = deps.sessions;
        const count = await (deps.unit ?? directUnitOfWork).outside(() => sessions.revokeCreatedBy(keyId, actor));
        opts.onSessionsRevoked?.(count);
      }
      return view(revoked, now, seen);
    },

    async list(tenantId) {
      const now = clock.now();
      const seen = lastUsed.snapshot(); // before the read (see view)
      return (await store.listKeys(tenantId, LIST_KEYS_LIMIT)).map((k) => view(k, now, seen));
    },
  };
}
