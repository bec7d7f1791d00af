import { BSON, type Document } from "mongodb";
import { describe, expect, it } from "vitest";
import { createMongoStore } from "../../src/adapters/mongo/mongo-token-store.js";
import { WEBHOOK_COLLECTIONS } from "../../src/adapters/mongo/mongo-webhook-store.js";
import { newEndpointId, newMessageId, type OutboxMessage } from "../../src/domain/webhook-records.js";
import { waitUntilServing } from "../support/mongo.js";
import { useMongoWireStub } from "../support/mongo-wire-fixture.js";
import type { WireCommand } from "../support/mongo-wire-stub.js";

/**
 * The MongoDB webhook adapter against a scripted MongoDB at the wire (no mongod runs here; the
 * contract suite's MongoDB leg needs one): the real driver sends what the adapter builds, and the
 * stub answers as mongod would to the races the adapter must survive.
 */
const stub = useMongoWireStub();

async function open() {
  const opened = createMongoStore({ uri: stub.uri, dbName: "wf", retry: { initialMs: 10, maxMs: 20 } });
  stub.closeAfter(opened.store);
  await waitUntilServing(opened.store, 5000);
  return opened.webhooks;
}

const on = (name: string, coll: string) => (cmd: WireCommand) => cmd.name === name && cmd.doc[name] === coll;
const cursor = (coll: string, firstBatch: Document[]) => ({
  cursor: { id: BSON.Long.ZERO, ns: `wf.${coll}`, firstBatch },
  ok: 1,
});

const msg = (n: number): OutboxMessage => ({
  id: newMessageId(),
  endpointId: "wh_0000000000000000000001",
  tenantId: "acme",
  type: "key.created",
  payload: "{}",
  createdAt: new Date(n),
  state: "pending",
  attempts: 0,
  nextAttemptAt: new Date(n),
});

describe("MongoDB webhook store at the wire", () => {
  it("enqueue: a message already stored (E11000 on _id) is skipped, the others count; another write error is thrown", async () => {
    const webhooks = await open();
    let answer: Document = {};
    stub.handle = (cmd) => (on("insert", WEBHOOK_COLLECTIONS.outbox)(cmd) ? answer : undefined);
    answer = {
      n: 2,
      writeErrors: [{ index: 1, code: 11000, errmsg: "E11000 duplicate key error index: _id_ dup key" }],
      ok: 1,
    };
    expect(await webhooks.enqueue([msg(1), msg(2), msg(3)])).toEqual({ added: 2, full: [] });
    const sent = stub.commands.filter(on("insert", WEBHOOK_COLLECTIONS.outbox)).at(-1)!;
    expect(sent.doc.ordered).toBe(false); // one duplicate does not stop the rest
    answer = { n: 0, writeErrors: [{ index: 0, code: 121, errmsg: "Document failed validation" }], ok: 1 };
    await expect(webhooks.enqueue([msg(4)])).rejects.toThrow();
  });

  it("enqueue with a bound: each endpoint's backlog counted up to the bound on its index; only what fits is inserted", async () => {
    const webhooks = await open();
    const other = "wh_0000000000000000000002";
    stub.handle = (cmd) => {
      // countDocuments is an aggregate: $match, $skip/$limit, $group with $sum.
      if (on("aggregate", WEBHOOK_COLLECTIONS.outbox)(cmd)) {
        const match = (cmd.doc.pipeline as Document[])[0]!.$match as Document;
        return cursor(WEBHOOK_COLLECTIONS.outbox, [{ _id: 1, n: match.endpointId === other ? 0 : 4 }]);
      }
      if (on("insert", WEBHOOK_COLLECTIONS.outbox)(cmd)) return { n: (cmd.doc.documents as unknown[]).length, ok: 1 };
      return undefined;
    };
    const mine = [msg(1), msg(2)];
    const theirs = { ...msg(3), endpointId: other };
    expect(await webhooks.enqueue([...mine, theirs], 5)).toEqual({ added: 2, full: [] });
    const counts = stub.commands.filter(on("aggregate", WEBHOOK_COLLECTIONS.outbox));
    expect(counts).toHaveLength(2);
    expect(counts[0]!.doc.pipeline).toEqual([
      { $match: { endpointId: msg(0).endpointId, state: "pending" } },
      { $limit: 5 },
      { $group: { _id: 1, n: { $sum: 1 } } },
    ]);
    const inserted = stub.commands.filter(on("insert", WEBHOOK_COLLECTIONS.outbox)).at(-1)!;
    expect((inserted.doc.documents as Document[]).map((d) => d._id)).toEqual([mine[0]!.id, theirs.id]);
  });

  it("setSecrets with the secret read: one findAndModify conditional on the current secret; no match is null", async () => {
    const webhooks = await open();
    stub.handle = (cmd) =>
      on("findAndModify", WEBHOOK_COLLECTIONS.endpoints)(cmd)
        ? { lastErrorObject: { n: 0 }, value: null, ok: 1 }
        : undefined;
    const secrets = [{ secret: "whsec_bmV3", createdAt: new Date(10) }];
    expect(await webhooks.setSecrets("acme", "wh_x", secrets, "whsec_b2xk")).toBeNull();
    const cmd = stub.commands.filter(on("findAndModify", WEBHOOK_COLLECTIONS.endpoints)).at(-1)!.doc;
    expect(cmd.query).toEqual({ _id: "wh_x", tenantId: "acme", "secrets.0.secret": "whsec_b2xk" });
    expect(cmd.update).toEqual({ $set: { secrets } });
  });

  it("dueEndpoints: the due endpoints grouped, then a random sample of at most the limit ($sample, not $limit: fairness)", async () => {
    const webhooks = await open();
    stub.handle = (cmd) =>
      on("aggregate", WEBHOOK_COLLECTIONS.outbox)(cmd)
        ? cursor(WEBHOOK_COLLECTIONS.outbox, [{ _id: "wh_a" }])
        : undefined;
    const now = new Date(5000);
    expect(await webhooks.dueEndpoints(now, 7)).toEqual(["wh_a"]);
    const pipeline = stub.commands.filter(on("aggregate", WEBHOOK_COLLECTIONS.outbox)).at(-1)!.doc
      .pipeline as Document[];
    expect(pipeline).toEqual([
      { $match: { state: "pending", nextAttemptAt: { $lte: now } } },
      { $group: { _id: "$endpointId" } },
      { $sample: { size: 7 } },
    ]);
  });

  it("claimEndpoint: one conditional update (lapsed or ours); no match is a lost claim", async () => {
    const webhooks = await open();
    let matched = 0;
    stub.handle = (cmd) =>
      on("update", WEBHOOK_COLLECTIONS.endpoints)(cmd) ? { n: matched, nModified: matched, ok: 1 } : undefined;
    const now = new Date(1000);
    const until = new Date(2000);
    expect(await webhooks.claimEndpoint({ endpointId: "wh_x", holder: "me", now, until })).toBe(false);
    matched = 1;
    expect(await webhooks.claimEndpoint({ endpointId: "wh_x", holder: "me", now, until })).toBe(true);
    const [u] = stub.commands.filter(on("update", WEBHOOK_COLLECTIONS.endpoints)).at(-1)!.doc.updates as Document[];
    expect(u!.q).toEqual({
      _id: "wh_x",
      $or: [{ claimUntil: { $exists: false } }, { claimUntil: { $lte: now } }, { claimHolder: "me" }],
    });
    expect(u!.u).toEqual({ $set: { claimHolder: "me", claimUntil: until } });
    expect(u!.upsert ?? false).toBe(false);
  });

  it("insertEndpoint: a slot taken by a concurrent insert (E11000) makes it look again; a full tenant is 'limit'", async () => {
    const webhooks = await open();
    let slots = [0];
    let inserts = 0;
    stub.handle = (cmd) => {
      if (on("find", WEBHOOK_COLLECTIONS.endpoints)(cmd))
        return cursor(
          WEBHOOK_COLLECTIONS.endpoints,
          slots.map((slot) => ({ _id: `wh_${slot}`, slot })),
        );
      if (on("insert", WEBHOOK_COLLECTIONS.endpoints)(cmd)) {
        inserts++;
        if (inserts === 1) {
          slots = [0, 1]; // someone else took slot 1 meanwhile
          return {
            n: 0,
            writeErrors: [
              {
                index: 0,
                code: 11000,
                errmsg: "E11000 duplicate key error index: webhook_endpoints_tenant_slot_unique",
              },
            ],
            ok: 1,
          };
        }
        return { n: 1, ok: 1 };
      }
      return undefined;
    };
    const ep = {
      id: newEndpointId(),
      tenantId: "acme",
      url: "https://example.com/",
      events: [],
      secrets: [{ secret: "whsec_eA==", createdAt: new Date(0) }],
      createdAt: new Date(0),
      createdBy: "t",
    };
    expect(await webhooks.insertEndpoint(ep, 3)).toEqual({ ok: true });
    const docs = stub.commands
      .filter(on("insert", WEBHOOK_COLLECTIONS.endpoints))
      .map((c) => (c.doc.documents as Document[])[0]!.slot);
    expect(docs).toEqual([1, 2]);
    slots = [0, 1, 2];
    expect(await webhooks.insertEndpoint({ ...ep, id: newEndpointId() }, 3)).toEqual({ ok: false, reason: "limit" });
  });

  it("disableEndpoint: only the caller whose conditional update changed the endpoint answers true; every call drops its pending messages (one stored by an enqueue racing the disable)", async () => {
    const webhooks = await open();
    let modified = 0;
    stub.handle = (cmd) => {
      if (on("update", WEBHOOK_COLLECTIONS.endpoints)(cmd)) return { n: modified, nModified: modified, ok: 1 };
      if (on("update", WEBHOOK_COLLECTIONS.outbox)(cmd)) return { n: 2, nModified: 2, ok: 1 };
      return undefined;
    };
    expect(await webhooks.disableEndpoint("wh_x", new Date(5))).toBe(false);
    expect(stub.commands.filter(on("update", WEBHOOK_COLLECTIONS.outbox))).toHaveLength(1);
    modified = 1;
    expect(await webhooks.disableEndpoint("wh_x", new Date(5))).toBe(true);
    const [drop] = stub.commands.filter(on("update", WEBHOOK_COLLECTIONS.outbox)).at(-1)!.doc.updates as Document[];
    expect(drop!.q).toEqual({ endpointId: "wh_x", state: "pending" });
    expect(drop!.multi).toBe(true);
  });
});
