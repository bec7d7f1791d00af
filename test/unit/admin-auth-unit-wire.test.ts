import { BSON, type Document } from "mongodb";
import { describe, expect, it } from "vitest";
import { COLLECTIONS, toKeyDoc } from "../../src/adapters/mongo/mongo-documents.js";
import { createMongoStore } from "../../src/adapters/mongo/mongo-token-store.js";
import { createAdminApi } from "../../src/domain/admin-api.js";
import type { AuditTrail } from "../../src/domain/audit-trail.js";
import type { Introspector } from "../../src/domain/introspector.js";
import type { KeyService } from "../../src/domain/key-service.js";
import type { PolicyService } from "../../src/domain/policy-service.js";
import type { SessionService } from "../../src/domain/session-service.js";
import { waitUntilServing } from "../support/mongo.js";
import { useMongoWireStub } from "../support/mongo-wire-fixture.js";
import type { WireCommand } from "../support/mongo-wire-stub.js";
import { ROTATED_KEY } from "../support/rotation-keys.js";

/**
 * Issue 24 review: an admin call runs inside its unit of work (a transaction on a replica set), but
 * its caller's authentication is not part of the change. Inside the transaction the driver drops a
 * per-operation read concern (node_modules/mongodb/lib/operations/command.js, buildCommand:
 * `!inTransaction`), so MONGODB_INTROSPECT_READ_CONCERN=linearizable was silently lost for the
 * admin's own credential lookup. The real driver against the wire stub (replica set).
 */
const stub = useMongoWireStub({ replicaSet: true });

describe("an admin's authentication inside the call's unit of work", () => {
  it("looks the credential up outside the transaction, with its linearizable read concern", async () => {
    const opened = createMongoStore({
      uri: stub.uri,
      dbName: "wf",
      retry: { initialMs: 10, maxMs: 20 },
      introspectReadConcern: "linearizable",
    });
    stub.closeAfter(opened.store);
    await waitUntilServing(opened.store, 5000);
    const keyDoc = toKeyDoc(ROTATED_KEY);
    stub.handle = (cmd: WireCommand): Document | undefined =>
      cmd.name === "find" && cmd.doc.find === COLLECTIONS.keys
        ? { cursor: { id: BSON.Long.ZERO, ns: `wf.${COLLECTIONS.keys}`, firstBatch: [keyDoc] }, ok: 1 }
        : undefined;
    const introspector = {
      introspect: async () => {
        const key = await opened.store.findKeyByHash(ROTATED_KEY.tokenHash);
        return { active: true, tokenType: "api_key", tenantId: key!.tenantId, keyId: key!.id };
      },
    } as unknown as Introspector;
    const admin = createAdminApi({
      introspector,
      adminKeys: opened.store,
      clock: { now: () => new Date() },
      keys: {} as KeyService,
      sessions: {} as SessionService,
      policies: {} as PolicyService,
      audit: { unit: opened.unit } as AuditTrail,
      adminGroup: "admins",
    });
    const from = stub.commands.length;
    const principal = await opened.unit.run(async () => {
      expect(opened.unit.inTransaction()).toBe(true);
      return admin.authenticate("wf_bearer");
    });
    expect(principal).toMatchObject({ kind: "tenant_member", tenantId: ROTATED_KEY.tenantId });
    const lookups = stub.commands.slice(from).filter((c) => c.name === "find" && c.doc.find === COLLECTIONS.keys);
    expect(lookups).toHaveLength(1);
    expect(lookups[0]!.doc.autocommit).toBeUndefined();
    expect(lookups[0]!.doc.txnNumber).toBeUndefined();
    expect(lookups[0]!.doc.readConcern).toEqual({ level: "linearizable" });
  });
});
