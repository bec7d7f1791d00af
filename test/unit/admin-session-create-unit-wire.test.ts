import { BSON, type Document } from "mongodb";
import { describe, expect, it } from "vitest";
import { COLLECTIONS, toKeyDoc } from "../../src/adapters/mongo/mongo-documents.js";
import { createMongoStore } from "../../src/adapters/mongo/mongo-token-store.js";
import type { KeyRecord } from "../../src/domain/records.js";
import { createSessionService } from "../../src/domain/session-service.js";
import { ADMIN_TENANT_ID } from "../../src/domain/tenant-id.js";
import { createTokenCache } from "../../src/domain/token-cache.js";
import { waitUntilServing } from "../support/mongo.js";
import { useMongoWireStub } from "../support/mongo-wire-fixture.js";
import type { WireCommand } from "../support/mongo-wire-stub.js";

/**
 * CreateSession runs in its call's unit of work (audited-call.ts: a transaction on a replica set).
 * With an admin key, the session is checked against that key's RevokeKey by reading the key again
 * once the session is stored (session-service.ts create). Inside the transaction neither half holds:
 * the insert stays invisible to the revoke's session walk until the commit, and the re-read reads
 * the transaction's snapshot (taken at its first operation, before the revoke), so it finds the key
 * active, and the session, committed after the walk, stays usable for its hour. Both must go to the
 * store outside the transaction. The real driver against the wire stub (replica set).
 */
const stub = useMongoWireStub({ replicaSet: true });

const ADMIN_KEY: KeyRecord = {
  id: "key_ADMINADMINADMINADMI",
  tenantId: ADMIN_TENANT_ID,
  label: "ops",
  tokenHash: "h-admin",
  hint: "wf_admin_...abcd",
  status: "active",
  createdAt: new Date(0),
  createdBy: "bootstrap",
};

describe("CreateSession with an admin key inside the call's unit of work", () => {
  it("stores the session and reads the admin key again outside the transaction, where a RevokeKey's walk and write are seen", async () => {
    const opened = createMongoStore({ uri: stub.uri, dbName: "wf", retry: { initialMs: 10, maxMs: 20 } });
    stub.closeAfter(opened.store);
    await waitUntilServing(opened.store, 5000);
    stub.handle = (cmd: WireCommand): Document | undefined => {
      if (cmd.name === "find" && cmd.doc.find === COLLECTIONS.keys)
        return {
          cursor: { id: BSON.Long.ZERO, ns: `wf.${COLLECTIONS.keys}`, firstBatch: [toKeyDoc(ADMIN_KEY)] },
          ok: 1,
        };
      if (cmd.name === "insert") return { n: 1, ok: 1 };
      return undefined;
    };
    const sessions = createSessionService({
      store: opened.store,
      clock: { now: () => new Date() },
      cache: createTokenCache(),
      unit: opened.unit,
    });
    const from = stub.commands.length;
    await opened.unit.run(async () => {
      expect(opened.unit.inTransaction()).toBe(true);
      return sessions.create("acme", ADMIN_KEY.id, undefined, { adminKey: true });
    });
    const sent = stub.commands.slice(from);
    const insert = sent.filter((c) => c.name === "insert" && c.doc.insert === COLLECTIONS.sessions);
    const reread = sent.filter((c) => c.name === "find" && c.doc.find === COLLECTIONS.keys);
    expect(insert).toHaveLength(1);
    expect(reread).toHaveLength(1);
    // A transaction's operations carry autocommit: false (a retryable insert has a txnNumber of its own).
    expect(insert[0]!.doc.autocommit).toBeUndefined();
    expect(reread[0]!.doc.autocommit).toBeUndefined();
    expect(reread[0]!.doc.txnNumber).toBeUndefined();
  });
});
