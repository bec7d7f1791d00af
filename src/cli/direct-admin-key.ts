import { createLogger } from "../app/logger.js";
import { openStore } from "../app/open-store.js";
import { loadConfig } from "../config.js";
import { createKeyService, type IssuedKey } from "../domain/key-service.js";
import { createLastUsedRecorder } from "../domain/last-used-recorder.js";
import { createTokenCache } from "../domain/token-cache.js";
import { ADMIN_TENANT_ID } from "../domain/tenant-id.js";
import { systemClock } from "../ports/clock.js";
import { hostname, userInfo } from "node:os";
import { completeAfter, createAuditTrail } from "../domain/audit-trail.js";

/**
 * Break-glass: create a platform admin key directly in the production store (MONGODB_URI), for
 * when no admin key is at hand (first deployment, lost key file). Needs database credentials, which
 * is the authority here; the key is created by the same domain rules as CreateAdminKey.
 */
export async function createAdminKeyDirect(label: string): Promise<IssuedKey> {
  const config = loadConfig();
  if (!config.mongodbUri) {
    throw new Error("--direct needs MONGODB_URI (the embedded store lives inside the running server; use the RPC instead)");
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
    const keys = createKeyService({ store, clock: systemClock, cache: createTokenCache(), lastUsed });
    // Audited like CreateAdminKey: the pending event first (no key without its event).
    const audit = createAuditTrail({ store, clock: systemClock });
    const pending = await audit.begin({
      action: "admin_key.create",
      actor: { kind: "service", id: "cli-direct", tenantId: ADMIN_TENANT_ID },
      tenantId: ADMIN_TENANT_ID,
      detail: `break-glass --direct by OS user ${userInfo().username} on ${hostname()}`,
    });
    try {
      return await completeAfter(pending, () => keys.create(ADMIN_TENANT_ID, label, "cli-direct"), (issued) => ({ keyId: issued.key.id }));
    } finally {
      await lastUsed.close();
    }
  } finally {
    await store.close();
  }
}
