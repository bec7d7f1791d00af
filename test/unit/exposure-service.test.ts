import { describe, expect, it } from "vitest";
import { createAuditTrail } from "../../src/domain/audit-trail.js";
import { createExposureService } from "../../src/domain/exposure-service.js";
import type { TokenStore } from "../../src/ports/token-store.js";
import { createDomain } from "../support/domain.js";

/**
 * Issue 24: the same token reported twice at once (GitHub's retry racing the first delivery, or the
 * alert reaching two replicas): one revoke, one `key.exposed` event that reads OK (webhooks are
 * derived from those), one true_positive; the other attempt's event is FAILED_PRECONDITION.
 */
describe("concurrent reports of one key", () => {
  it("revoke once: one OK key.exposed event, one true_positive", async () => {
    const d = createDomain();
    const { token, key } = await d.keys.create("acme", "leaky", "test");
    // Both lookups answer before either revoke runs: the race, made certain.
    let waiting: (() => void)[] = [];
    const store: TokenStore = {
      ...d.store,
      findKeyByHash: async (hash) => {
        const found = await d.store.findKeyByHash(hash);
        await new Promise<void>((release) => {
          waiting.push(release);
          if (waiting.length === 2) {
            waiting.forEach((r) => r());
            waiting = [];
          }
        });
        return found;
      },
    };
    const audit = createAuditTrail({ store: d.store, clock: d.clock });
    const svc = createExposureService({ store, clock: d.clock, cache: d.cache, audit, sessions: d.sessions });
    const report = { token, type: "warpflow_api_key", url: "https://github.com/o/r", source: "content" };
    const answers = await Promise.all([svc.handle([report]), svc.handle([report])]);
    expect(answers.map((a) => a[0]!.label).sort()).toEqual(["false_positive", "true_positive"]);
    const events = await audit.list({ tenantId: "acme", action: "key.exposed", limit: 10 });
    expect(events.map((e) => `${e.outcome} ${e.code}`).sort()).toEqual(["failed FAILED_PRECONDITION", "ok OK"]);
    const stored = await d.store.getKey("acme", key.id);
    expect(stored).toMatchObject({ status: "revoked", revokedBy: "system:secret-scanning" });
    expect(stored!.exposure).toMatchObject({ source: "content", url: "https://github.com/o/r" });
  });
});
