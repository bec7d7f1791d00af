import { bootstrapAtOnce } from "../support/bootstrap-replicas.js";
import type { Document } from "mongodb";
import { describe, expect, it } from "vitest";
import { createMemoryTokenStore } from "../../src/adapters/memory/memory-token-store.js";
import { BOOTSTRAP_LEASE } from "../../src/domain/admin-bootstrap.js";
import { StoreUnavailableError } from "../../src/domain/errors.js";
import { ADMIN_TENANT_ID } from "../../src/domain/tenant-id.js";
import type { TokenStore } from "../../src/ports/token-store.js";
import { type WireCommand } from "../support/mongo-wire-stub.js";
import { useMongoWireStub } from "../support/mongo-wire-fixture.js";

/**
 * The bootstrap lease at the driver boundary (issue 26.1): the real driver against a scripted
 * MongoDB (test/support/mongo-wire-stub.ts) whose `leases` collection behaves as the server does
 * for the one update the adapter sends: the filter is matched against the stored document; no
 * match with upsert inserts, and an insert of an _id that exists fails with E11000 (the unique _id
 * index). Each command is applied whole before the next (the server's per-document atomicity).
 */
const stub = useMongoWireStub({ replicaSet: true });

function matches(doc: Document, filter: Document): boolean {
  return Object.entries(filter).every(([field, want]) => {
    if (field === "$or") return (want as Document[]).some((f) => matches(doc, f));
    if (want && typeof want === "object" && !(want instanceof Date) && "$lte" in want)
      return doc[field] !== undefined && doc[field] <= want.$lte;
    return doc[field] instanceof Date ? doc[field].getTime() === (want as Date).getTime() : doc[field] === want;
  });
}

/** The `leases` collection, as MongoDB applies updateOne(upsert) and deleteOne to it. */
function leasesCollection(): { docs: Map<string, Document>; handle: (cmd: WireCommand) => Document | undefined } {
  const docs = new Map<string, Document>();
  const handle = ({ name, doc }: WireCommand): Document | undefined => {
    if (name === "update" && doc.update === "leases") {
      const { q, u, upsert } = doc.updates[0] as { q: Document; u: Document; upsert: boolean };
      const current = docs.get(q._id as string);
      if (current && matches(current, q)) {
        docs.set(current._id as string, { ...current, ...u.$set });
        return { n: 1, nModified: 1, ok: 1 };
      }
      if (!upsert) return { n: 0, nModified: 0, ok: 1 };
      if (current) {
        return {
          n: 0,
          nModified: 0,
          writeErrors: [
            {
              index: 0,
              code: 11000,
              errmsg: `E11000 duplicate key error collection: wf.leases index: _id_ dup key: { _id: "${q._id}" }`,
            },
          ],
          ok: 1,
        };
      }
      docs.set(q._id as string, { _id: q._id, ...u.$set });
      return { n: 1, nModified: 0, upserted: [{ index: 0, _id: q._id }], ok: 1 };
    }
    if (name === "delete" && doc.delete === "leases") {
      const { q } = doc.deletes[0] as { q: Document };
      const current = docs.get(q._id as string);
      if (current && matches(current, q)) {
        docs.delete(q._id as string);
        return { n: 1, ok: 1 };
      }
      return { n: 0, ok: 1 };
    }
    return undefined;
  };
  return { docs, handle };
}

const readyStore = () => stub.readyStore();

const at = (ms: number) => new Date(Date.UTC(2030, 0, 1) + ms);

describe("MongoDB bootstrap lease on the wire (issue 26.1)", () => {
  it("claims with one conditional upsert (w: majority), answers lost on E11000, renews its own, and releases only its own", async () => {
    const leases = leasesCollection();
    stub.handle = leases.handle;
    const s = await readyStore();
    expect(await s.claimLease({ name: BOOTSTRAP_LEASE, holder: "a", now: at(0), until: at(60_000) })).toBe(true);
    const sent = stub.commands.filter((c) => c.name === "update");
    expect(sent).toHaveLength(1);
    expect(sent[0]!.doc.updates[0]).toMatchObject({
      q: { _id: BOOTSTRAP_LEASE, $or: [{ until: { $lte: at(0) } }, { holder: "a" }] },
      u: { $set: { holder: "a", until: at(60_000) } },
      upsert: true,
    });
    expect(sent[0]!.doc.writeConcern).toMatchObject({ w: "majority" });
    expect(sent[0]!.doc.maxTimeMS).toBeGreaterThan(0);
    expect(await s.claimLease({ name: BOOTSTRAP_LEASE, holder: "b", now: at(1000), until: at(61_000) })).toBe(false); // E11000
    expect(await s.claimLease({ name: BOOTSTRAP_LEASE, holder: "a", now: at(2000), until: at(62_000) })).toBe(true); // renewal
    await s.releaseLease({ name: BOOTSTRAP_LEASE, holder: "b" }); // not b's: nothing changes
    expect(leases.docs.get(BOOTSTRAP_LEASE)).toMatchObject({ holder: "a" });
    expect(await s.claimLease({ name: BOOTSTRAP_LEASE, holder: "b", now: at(62_000), until: at(122_000) })).toBe(true); // expired
    await s.releaseLease({ name: BOOTSTRAP_LEASE, holder: "b" });
    expect(leases.docs.size).toBe(0);
  });

  it("a claim MongoDB cannot answer is an outage (UNAVAILABLE), never a lost or won lease", async () => {
    stub.handle = (cmd) =>
      cmd.name === "update" ? { ok: 0, code: 91, codeName: "ShutdownInProgress", errmsg: "shutting down" } : undefined;
    const s = await readyStore();
    await expect(s.claimLease({ name: BOOTSTRAP_LEASE, holder: "a", now: at(0), until: at(1) })).rejects.toBeInstanceOf(
      StoreUnavailableError,
    );
  });

  it("five instances, each with its own driver connection, bootstrap at once: exactly one admin key and one saved key", async () => {
    const leases = leasesCollection();
    stub.handle = leases.handle;
    const keysStore = createMemoryTokenStore(); // the keys: the contract suite covers them on MongoDB
    const connections = await Promise.all(Array.from({ length: 5 }, () => readyStore()));
    const stores = connections.map(
      (mongo): TokenStore => ({ ...keysStore, claimLease: mongo.claimLease, releaseLease: mongo.releaseLease }),
    );
    const { outcomes, saved } = await bootstrapAtOnce(stores, { saveDelayMs: 100 });
    expect(outcomes.map((o) => o.kind).sort()).toEqual(["created", "existing", "existing", "existing", "existing"]);
    expect(saved).toHaveLength(1);
    const admin = (await keysStore.listKeys(ADMIN_TENANT_ID, 0)).filter((k) => k.status === "active");
    expect(admin).toHaveLength(1);
    // The lease was contested on the server (E11000 answers), and released at the end.
    expect(stub.commands.filter((c) => c.name === "update").length).toBeGreaterThanOrEqual(5);
    expect(leases.docs.size).toBe(0);
  });
});
