import { describe, expect, it } from "vitest";
import { generateToken } from "../../src/domain/token-format.js";
import { ADMIN_TENANT_ID } from "../../src/domain/tenant-id.js";
import { createDomain } from "../support/domain.js";

/**
 * Embedded store: a key created with a given plaintext (the admin
 * bootstrap registering an operator-supplied ADMIN_KEY_FILE key: keys.create(..., { token })) may
 * have been introspected before it existed. KEY_CREATED tells clients to drop their NOT_FOUND
 * entries; the server's own negative entry must go too, or the re-asked answer is NOT_FOUND again.
 */
describe("a creation drops the server's own negative entry for the token", () => {
  it("an operator-supplied admin key asked about before its registration is active once registered", async () => {
    const d = createDomain();
    const token = generateToken("api_key", ADMIN_TENANT_ID);
    expect(await d.introspector.introspect(token)).toMatchObject({ active: false, reason: "not_found" });
    const issued = await d.keys.create(ADMIN_TENANT_ID, "operator-supplied admin key", "bootstrap", { token });
    const after = await d.introspector.introspect(token);
    expect(after.active).toBe(true);
    expect(after.active && after.keyId).toBe(issued.key.id);
  });
});
