import { describe, expect, it } from "vitest";
import { COLLECTIONS } from "../../src/adapters/mongo/mongo-documents.js";
import { createMongoStore } from "../../src/adapters/mongo/mongo-token-store.js";
import type { AuditEvent } from "../../src/domain/audit.js";
import { createAuditTrail } from "../../src/domain/audit-trail.js";
import { DomainError } from "../../src/domain/errors.js";
import { createRefusalWindows, type RefusalFate } from "../../src/domain/refusal-windows.js";
import { withWebhookEvents } from "../../src/domain/webhook-audit-trail.js";
import { createEnqueue } from "../../src/domain/webhook-outbox.js";
import { createAuditedCall } from "../../src/service/audited-call.js";
import type { CallContext } from "../../src/transport/protocol/unary-handlers.js";
import { createManualClock } from "../support/manual-clock.js";
import { waitUntilServing } from "../support/mongo.js";
import { useMongoWireStub } from "../support/mongo-wire-fixture.js";
import { ROTATED_KEY } from "../support/rotation-keys.js";

/**
 * Issue 24 review: a call refused before any change (PERMISSION_DENIED) inside its unit of work.
 * The refusal windows (refusal-windows.ts) store the first refusals of a window and only count the
 * rest, in memory: recorded inside the transaction, an attempt that is run again (a transient
 * error on the commit) had its stored event rolled back while the window had already spent its
 * "store this one" on it, so the re-run only counted it and the refusal left no event. The real
 * driver against the wire stub (replica-set primary).
 */
const stub = useMongoWireStub({ replicaSet: true });
const clock = createManualClock(new Date("2030-01-01T00:00:00Z"));
const ctx: CallContext = { bearer: "x", peer: "10.0.0.1:5000", userAgent: "test", protocol: "grpc" };

describe("a refusal inside a unit of work", () => {
  it("is recorded once, outside the transaction, even when the unit's commit asks for a re-run", async () => {
    const opened = createMongoStore({ uri: stub.uri, dbName: "wf", retry: { initialMs: 10, maxMs: 20 } });
    stub.closeAfter(opened.store);
    await waitUntilServing(opened.store, 5000);
    const lines: AuditEvent[] = [];
    const audit = withWebhookEvents(
      createAuditTrail({
        store: opened.store,
        clock,
        sink: (e) => lines.push(e),
        unit: opened.unit,
        retryDelaysMs: [],
      }),
      createEnqueue(opened.webhooks, () => clock.now()),
      () => undefined,
      () => clock.now(),
    );
    const fates: RefusalFate[] = [];
    const refusals = createRefusalWindows({
      audit,
      clock,
      windowMs: 60_000,
      maxWindows: 100,
      authenticatedBurst: 1,
      observe: (fate) => fates.push(fate),
    });
    let commits = 0;
    stub.handle = (cmd) => {
      if (cmd.name === "commitTransaction" && commits++ === 0)
        return {
          ok: 0,
          code: 112,
          codeName: "WriteConflict",
          errmsg: "scripted",
          errorLabels: ["TransientTransactionError"],
        };
      if (cmd.name === "insert" || cmd.name === "update") return { n: 1, ok: 1 };
      return undefined;
    };
    const call = createAuditedCall(audit, refusals);
    const from = stub.commands.length;
    await expect(
      call("key.revoke", ctx, { tenantId: ROTATED_KEY.tenantId, keyId: ROTATED_KEY.id }, async (scope) => {
        scope.principal({ kind: "tenant_member", tenantId: ROTATED_KEY.tenantId, actor: "key_x", via: "api_key" });
        throw new DomainError("permission_denied", "not an admin");
      }),
    ).rejects.toThrow("not an admin");
    const inserts = stub.commands.slice(from).filter((c) => c.name === "insert" && c.doc.insert === COLLECTIONS.audit);
    expect(inserts).toHaveLength(1);
    expect(inserts[0]!.doc.autocommit).toBeUndefined(); // on its own, not in a transaction that may roll back
    expect(inserts[0]!.doc.documents[0]).toMatchObject({ action: "key.revoke", outcome: "failed" });
    expect(fates).toEqual(["recorded"]);
    expect(lines.map((l) => [l.action, l.outcome])).toEqual([["key.revoke", "failed"]]);
    await refusals.close();
  });
});
