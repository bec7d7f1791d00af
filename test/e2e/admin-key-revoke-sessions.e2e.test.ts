import { describe, expect, it } from "vitest";
import { createMemoryTokenStore } from "../../src/adapters/memory/memory-token-store.js";
import { createManualClock } from "../support/manual-clock.js";
import { useTestApp } from "../support/test-app.js";
import { codeOf } from "../support/codes.js";

/**
 * Revoking an admin key revokes the sessions it minted (authz review, commit c22f7ce): a leaked
 * admin key that the operator revokes must not leave its holder full-access sessions for an hour.
 */
const clock = createManualClock();
const t = useTestApp({ clock, store: createMemoryTokenStore(), logLevel: "warn", env: { CACHE_TTL_MS: "60000" } });

describe("a revoked admin key's sessions", () => {
  it("a session minted by an admin key is inactive once that admin key is revoked", async () => {
    const creator = await t.grpc.createAdminKey({ label: "leaked" }, { bearer: t.adminKey });
    const session = await t.grpc.createSession({ tenantId: "acme" }, { bearer: creator.token });
    expect(await t.grpc.introspect({ token: session.token })).toMatchObject({ active: true, tenantId: "acme" });

    await t.grpc.revokeKey({ tenantId: "admin", keyId: creator.key!.id }, { bearer: t.adminKey });
    expect(await codeOf(t.grpc.listKeys({ tenantId: "acme" }, { bearer: creator.token }))).toBe("UNAUTHENTICATED");

    // The revoked key's holder must not keep a full-access acme session for up to an hour.
    expect(await t.grpc.introspect({ token: session.token })).toMatchObject({ active: false });
  });
});
