import { createLogger } from "../app/logger.js";
import { openStore } from "../app/open-store.js";
import { loadConfig } from "../config.js";
import { createKeyService, type IssuedKey, type KeyService } from "../domain/key-service.js";
import { createLastUsedRecorder } from "../domain/last-used-recorder.js";
import { createSessionService } from "../domain/session-service.js";
import type { KeyRecord } from "../domain/records.js";
import { createTokenCache } from "../domain/token-cache.js";
import { ADMIN_TENANT_ID } from "../domain/tenant-id.js";
import { systemClock } from "../ports/clock.js";
import { hostname, userInfo } from "node:os";
import { completeAfter, createAuditTrail, type AuditTrail } from "../domain/audit-trail.js";
import type { AuditAction } from "../domain/audit.js";

/**
 * Break-glass on the production store (MONGODB_URI), for when no admin key is at hand (first
 * deployment, lost key file) or the admin tenant is full: create, list and revoke platform admin
 * keys directly. Needs database credentials, which is the authority here; keys are created and
 * revoked by the same domain rules as the RPCs, and each change is audited (actor: cli-direct).
 */
async function withDirectStore<T>(
  env: NodeJS.ProcessEnv,
  fn: (deps: { keys: KeyService; audit: AuditTrail }) => Promise<T>,
): Promise<T> {
  const config = loadConfig(env);
  if (config.store !== "mongodb") {
    throw new Error(
      "--direct needs MONGODB_URI (the embedded store lives inside the running server; use the RPC instead)",
    );
  }
  const { store } = await openStore(config, createLogger("error"));
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await store.ping();
        break;
      } catch (err) {
        if (attempt >= 20) throw err;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    const lastUsed = createLastUsedRecorder(store);
    try {
      const cache = createTokenCache();
      // A revoked admin key's sessions go with it here too (key-service.ts).
      const sessions = createSessionService({ store, clock: systemClock, cache });
      const keys = createKeyService({ store, clock: systemClock, cache, lastUsed, sessions });
      return await fn({ keys, audit: createAuditTrail({ store, clock: systemClock }) });
    } finally {
      await lastUsed.close();
    }
  } finally {
    await store.close();
  }
}

/** The pending audit event first (no change without its event), completed with the outcome. */
function audited<T>(
  audit: AuditTrail,
  action: AuditAction,
  change: () => Promise<T>,
  keyOf: (v: T) => string,
  /** What the change did beyond its key, appended to the detail once it is done. */
  didAlso?: () => string | undefined,
): Promise<T> {
  const detail = `break-glass --direct by OS user ${userInfo().username} on ${hostname()}`;
  return audit
    .begin({
      action,
      actor: { kind: "service", id: "cli-direct", tenantId: ADMIN_TENANT_ID },
      tenantId: ADMIN_TENANT_ID,
      detail,
    })
    .then((pending) =>
      completeAfter(pending, change, (v) => {
        const also = didAlso?.();
        return also === undefined ? { keyId: keyOf(v) } : { keyId: keyOf(v), detail: `${detail}; ${also}` };
      }),
    );
}

export function createAdminKeyDirect(env: NodeJS.ProcessEnv, label: string): Promise<IssuedKey> {
  return withDirectStore(env, ({ keys, audit }) =>
    audited(
      audit,
      "admin_key.create",
      () => keys.create(ADMIN_TENANT_ID, label, "cli-direct"),
      (i) => i.key.id,
    ),
  );
}

/** The admin tenant's keys (every non-revoked key and the newest revoked ones), newest first. */
export function listAdminKeysDirect(env: NodeJS.ProcessEnv): Promise<KeyRecord[]> {
  return withDirectStore(env, ({ keys }) => keys.list(ADMIN_TENANT_ID));
}

export function revokeAdminKeyDirect(env: NodeJS.ProcessEnv, keyId: string): Promise<KeyRecord> {
  return withDirectStore(env, ({ keys, audit }) => {
    let sessions: number | undefined;
    return audited(
      audit,
      "key.revoke",
      () => keys.revoke(ADMIN_TENANT_ID, keyId, "cli-direct", { onSessionsRevoked: (n) => (sessions = n) }),
      (k) => k.id,
      () => (sessions === undefined ? undefined : `revoked ${sessions} sessions it created`),
    );
  });
}
