import { createServer } from "node:net";
import { MongoClient, MongoNetworkError, MongoServerError } from "mongodb";
import { describe, expect, it } from "vitest";
import { clientOptions, DEFAULT_TIMEOUTS, openDb } from "../../src/adapters/mongo/mongo-connection.js";
import {
  fromKeyDoc,
  fromPolicyDoc,
  fromSessionDoc,
  SCHEMA_VERSION,
  toKeyDoc,
  toPolicyDoc,
  toSessionDoc,
} from "../../src/adapters/mongo/mongo-documents.js";
import { isDuplicateKeyOn, isUnavailable, toStoreError } from "../../src/adapters/mongo/mongo-errors.js";
import { INDEX } from "../../src/adapters/mongo/mongo-indexes.js";
import { createMongoTokenStore } from "../../src/adapters/mongo/mongo-token-store.js";
import { StoreUnavailableError } from "../../src/domain/errors.js";
import type { KeyRecord } from "../../src/domain/records.js";

/**
 * The MongoDB adapter's pure parts (document mapping, error classification, client options) and
 * its behaviour with no MongoDB at all. Needs no mongod; the store contract's MongoDB leg covers
 * the rest.
 */
const key: KeyRecord = {
  id: "key_AAAAAAAAAAAAAAAAAAAA",
  tenantId: "acme",
  label: "deploy",
  tokenHash: "hash",
  hint: "wf_k_…abcd",
  status: "deprecated",
  createdAt: new Date(1),
  createdBy: "user:alice",
  lastUsedAt: new Date(2),
  revokeAt: new Date(3),
  rotatedToKeyId: "key_BBBBBBBBBBBBBBBBBBBB",
};

describe("mongo documents", () => {
  it("maps a key both ways, with a schema version, omitting absent fields and the slot", () => {
    const doc = toKeyDoc(key, 2);
    expect(doc).toMatchObject({ _id: key.id, v: SCHEMA_VERSION, slot: 2, tenantId: "acme", revokeAt: new Date(3) });
    expect("revokedAt" in doc).toBe(false); // never null: undefined would be stored as BSON null
    expect("revokedBy" in doc).toBe(false);
    expect(fromKeyDoc(doc)).toStrictEqual(key);
    expect(fromKeyDoc({ ...doc, revokedBy: null } as never)).toStrictEqual(key); // a null reads as absent
    expect("slot" in toKeyDoc(key)).toBe(false);
  });

  it("maps sessions and policies both ways", () => {
    const s = {
      id: "ses_x",
      tenantId: "acme",
      tokenHash: "h",
      createdAt: new Date(1),
      expiresAt: new Date(2),
      createdBy: "u",
    };
    expect(toSessionDoc(s)).toMatchObject({ _id: "ses_x", v: SCHEMA_VERSION, expiresAt: new Date(2) });
    expect(fromSessionDoc(toSessionDoc(s))).toStrictEqual(s);
    const p = { tenantId: "acme", hipaaEnabled: true };
    expect(toPolicyDoc(p)).toStrictEqual({ _id: "acme", v: SCHEMA_VERSION, hipaaEnabled: true });
    expect(fromPolicyDoc(toPolicyDoc(p))).toStrictEqual(p);
    const full = { ...p, updatedAt: new Date(5), updatedBy: "admin" };
    expect(fromPolicyDoc(toPolicyDoc(full))).toStrictEqual(full);
  });
});

describe("mongo errors", () => {
  const dup = (index: string, keyPattern: object) =>
    new MongoServerError({
      code: 11000,
      errmsg: `E11000 duplicate key error collection: db.keys index: ${index} dup key: { }`,
      keyPattern,
    });

  it("attributes a duplicate-key error to its index", () => {
    expect(isDuplicateKeyOn(dup(INDEX.keyActiveSlot, { tenantId: 1, slot: 1 }), INDEX.keyActiveSlot, "slot")).toBe(
      true,
    );
    expect(isDuplicateKeyOn(dup(INDEX.keyTokenHash, { tokenHash: 1 }), INDEX.keyActiveSlot, "slot")).toBe(false);
    expect(
      isDuplicateKeyOn(
        new MongoServerError({ code: 11000, errmsg: "E11000", keyPattern: { tenantId: 1, slot: 1 } }),
        INDEX.keyActiveSlot,
        "slot",
      ),
    ).toBe(true);
    expect(isDuplicateKeyOn(new Error("E11000"), INDEX.keyActiveSlot, "slot")).toBe(false);
  });

  it("maps 'MongoDB could not answer' to StoreUnavailableError and nothing else", () => {
    expect(isUnavailable(new MongoNetworkError("connection reset"))).toBe(true);
    expect(isUnavailable(new MongoServerError({ code: 10107, errmsg: "not primary" }))).toBe(true);
    expect(isUnavailable(new MongoServerError({ code: 50, errmsg: "operation exceeded time limit" }))).toBe(true);
    expect(isUnavailable(new MongoServerError({ code: 11000, errmsg: "E11000" }))).toBe(false);
    expect(isUnavailable(new MongoServerError({ code: 2, errmsg: "BadValue" }))).toBe(false);
    expect(isUnavailable(new Error("bug"))).toBe(false);
    expect(toStoreError(new MongoNetworkError("x"), "getKey")).toBeInstanceOf(StoreUnavailableError);
    const bug = new Error("bug");
    expect(toStoreError(bug, "getKey")).toBe(bug);
  });
});

describe("mongo client options", () => {
  it("bounds every driver timeout unless the connection string sets it", () => {
    const opts = clientOptions("mongodb://h:27017/?replicaSet=rs0", DEFAULT_TIMEOUTS);
    expect(opts).toMatchObject({
      serverSelectionTimeoutMS: 800,
      connectTimeoutMS: 800,
      socketTimeoutMS: 8800,
      waitQueueTimeoutMS: 800,
    });
    const given = clientOptions(
      "mongodb://a:1,b:2/?serverSelectionTimeoutMS=9000&sockettimeoutms=100",
      DEFAULT_TIMEOUTS,
    );
    expect(given.serverSelectionTimeoutMS).toBeUndefined();
    expect(given.socketTimeoutMS).toBeUndefined();
    expect(given.connectTimeoutMS).toBe(800);
  });
});

describe("mongo write concern and read preference", () => {
  // The driver resolves options without a server: what it would send is readable on the handles.
  it.each([
    "mongodb://h:27017/?replicaSet=rs0&w=1&readPreference=secondary",
    "mongodb://h:27017/?w=0&journal=false&readPreference=nearest&readPreferenceTags=dc:east",
    "mongodb://h:27017/?replicaSet=rs0",
  ])("majority writes and primary reads whatever the connection string says (%s)", async (uri) => {
    const client = new MongoClient(uri, clientOptions(uri, DEFAULT_TIMEOUTS));
    try {
      const db = openDb(client, "warpflow_test", DEFAULT_TIMEOUTS);
      for (const handle of [db, db.collection("keys"), db.collection("sessions"), db.collection("tenant_policies")]) {
        expect(handle.readPreference?.mode).toBe("primary");
        expect(handle.writeConcern).toMatchObject({ w: "majority", wtimeoutMS: DEFAULT_TIMEOUTS.wtimeoutMS });
      }
    } finally {
      await client.close();
    }
  });

  it("control: without openDb the connection string's weaker options would apply", async () => {
    const client = new MongoClient("mongodb://h:27017/?w=1&readPreference=secondary");
    try {
      const db = client.db("warpflow_test");
      expect(db.readPreference.mode).toBe("secondary");
      expect(db.writeConcern?.w).toBe(1);
    } finally {
      await client.close();
    }
  });
});

/** A loopback port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

describe("mongo store without a MongoDB", () => {
  it("starts anyway, then answers UNAVAILABLE (never a false result) within the bounded timeouts", async () => {
    const port = await closedPort();
    const started = Date.now();
    const store = createMongoTokenStore({
      uri: `mongodb://127.0.0.1:${port}/?directConnection=true`,
      dbName: "warpflow_test",
      timeouts: { serverSelectionTimeoutMS: 300, connectTimeoutMS: 300 },
      retry: { initialMs: 50, maxMs: 200 },
    });
    expect(Date.now() - started).toBeLessThan(200); // construction does not wait for MongoDB
    try {
      await expect(store.ping()).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(store.findKeyByHash("h")).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(store.insertKey({ ...key, status: "active" }, 3)).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(store.hasUsableKey("acme", new Date())).rejects.toBeInstanceOf(StoreUnavailableError);
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      await store.close();
    }
    await expect(store.ping()).rejects.toBeInstanceOf(StoreUnavailableError);
  });

  it("refuses a malformed connection string at once (a configuration error)", () => {
    expect(() => createMongoTokenStore({ uri: "mongodb://", dbName: "x" })).toThrow();
  });
});
