import { BSON, type Document, MongoServerError } from "mongodb";
import pino from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  createMongoConnection,
  type MongoConnection,
  type MongoConnectionOptions,
} from "../../src/adapters/mongo/mongo-connection.js";
import { toStoreError } from "../../src/adapters/mongo/mongo-errors.js";
import { AUDIT_INDEXES, INDEX, KEY_INDEXES, SESSION_INDEXES } from "../../src/adapters/mongo/mongo-indexes.js";
import { WEBHOOK_ENDPOINT_INDEXES, WEBHOOK_OUTBOX_INDEXES } from "../../src/adapters/mongo/mongo-webhook-store.js";
import { refusalOf, StartupRefusedError } from "../../src/adapters/mongo/mongo-startup-checks.js";
import { createMongoStore } from "../../src/adapters/mongo/mongo-token-store.js";
import { StoreUnavailableError } from "../../src/domain/errors.js";
import type { TokenStore } from "../../src/ports/token-store.js";
import { pollUntil, sleep } from "../support/poll.js";
import { useMongoWireStub } from "../support/mongo-wire-fixture.js";
import { lineSink } from "../support/log-lines.js";

/**
 * Start-up conditions that retrying cannot fix (issue 18.2, 18.4, 18.5), shutdown during an index
 * build (18.13) and the readiness ping (18.11), with the real driver talking to a scripted MongoDB
 * at the wire (test/support/mongo-wire-stub.ts; no mongod here).
 */
const stub = useMongoWireStub();
let conn: MongoConnection | undefined;
let store: TokenStore | undefined;
const { lines, stream } = lineSink();
const logger = pino({ level: "info" }, stream);
beforeEach(() => {
  lines.length = 0;
});
afterEach(async () => {
  await conn?.close();
  await store?.close();
  conn = undefined;
  store = undefined;
});

const open = (extra: Partial<MongoConnectionOptions> = {}) =>
  (conn = createMongoConnection({
    uri: stub.uri,
    dbName: "wf",
    logger,
    retry: { initialMs: 10, maxMs: 20 },
    ...extra,
  }));
const commands = (name: string) => stub.commands.filter((c) => c.name === name);
const ready = (c: MongoConnection, ms?: number) =>
  pollUntil(
    () =>
      c.db().then(
        () => true,
        () => false,
      ),
    ms,
  );
const failure = (c: MongoConnection) =>
  c.db().then(
    () => "",
    (e: Error) => e.message,
  );
const errorLines = () => lines.filter((l) => JSON.parse(l).level === 50);
const cursor = (ns: string, firstBatch: Document[]) => ({ cursor: { id: BSON.Long.ZERO, ns, firstBatch }, ok: 1 });
const SPECS: Record<string, typeof KEY_INDEXES> = {
  keys: KEY_INDEXES,
  sessions: SESSION_INDEXES,
  audit_events: AUDIT_INDEXES,
  webhook_endpoints: WEBHOOK_ENDPOINT_INDEXES,
  webhook_outbox: WEBHOOK_OUTBOX_INDEXES,
};
/** listIndexes shows every index of ours exactly (plus `extra` on audit_events). */
const allIndexes = (cmd: { doc: Document }, extra: Document[] = []) => {
  const coll = cmd.doc.listIndexes as string;
  return cursor(`wf.${coll}`, [
    { v: 2, key: { _id: 1 }, name: "_id_" },
    ...SPECS[coll]!.map((s) => ({ v: 2, ...s })),
    ...(coll === "audit_events" ? extra : []),
  ]);
};
const unauthorized = (command: string) => ({
  ok: 0,
  code: 13,
  codeName: "Unauthorized",
  errmsg: `not authorized on wf to execute command { ${command}: "audit_events" }`,
});

describe("AUDIT_RETENTION_DAYS changed, with only the readWrite role (issue 18.2)", () => {
  it("replaces the TTL index with dropIndexes + createIndexes (no collMod, which readWrite may not run) and becomes ready", async () => {
    // The server as a readWrite user sees it: the 30-day TTL index exists; collMod is refused.
    let ttl: number | undefined = 30 * 86_400;
    stub.handle = (cmd) => {
      if (cmd.name === "listIndexes")
        return allIndexes(
          cmd,
          ttl === undefined ? [] : [{ v: 2, key: { time: 1 }, name: INDEX.auditRetention, expireAfterSeconds: ttl }],
        );
      if (cmd.name === "collMod") return unauthorized("collMod");
      if (cmd.name === "dropIndexes") {
        ttl = undefined;
        return { ok: 1, nIndexesWas: 5 };
      }
      if (cmd.name === "createIndexes") {
        const spec = (cmd.doc.indexes as Document[])[0]!;
        if (spec.name === INDEX.auditRetention && ttl !== undefined && ttl !== spec.expireAfterSeconds) {
          return {
            ok: 0,
            code: 85,
            codeName: "IndexOptionsConflict",
            errmsg: "An equivalent index already exists with the same name but different options",
          };
        }
        ttl = spec.expireAfterSeconds as number;
        return { ok: 1 };
      }
      return undefined;
    };
    const c = open({ auditRetentionDays: 7 });
    expect(await ready(c, 3000), lines.join("\n")).toBe(true);
    expect(ttl).toBe(7 * 86_400);
    expect(commands("collMod")).toEqual([]);
    expect(commands("dropIndexes").map((d) => d.doc.index)).toEqual([INDEX.auditRetention]);
  });

  it("an authorization error at start is one error line and a not-ready state that says why, not an endless retry", async () => {
    stub.handle = (cmd) => (cmd.name === "listIndexes" ? unauthorized("listIndexes") : undefined);
    const c = open();
    expect(await pollUntil(async () => (await failure(c)).includes("readWrite"))).toBe(true);
    const err = await c.db().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect((err as Error).message).toMatch(
      /Unauthorized, 13.*not authorized on wf.*readWrite role on database wf.*restart/,
    );
    const tried = commands("listIndexes").length;
    // With a 10 ms retry back-off, a retry would show within the next half second.
    expect(await pollUntil(() => commands("listIndexes").length > tried, 500)).toBe(false);
    expect(errorLines()).toHaveLength(1);
  });
});

describe("what counts as an authorization refusal at start", () => {
  it("Unauthorized (13) and Atlas's 'not allowed to do action' (8000); not other errors", () => {
    const refused = (e: object) =>
      refusalOf(new MongoServerError({ ok: 0, ...e }), "wf") instanceof StartupRefusedError;
    expect(refused({ code: 13, codeName: "Unauthorized", errmsg: "not authorized on wf to execute command" })).toBe(
      true,
    );
    expect(
      refused({
        code: 8000,
        codeName: "AtlasError",
        errmsg: "user is not allowed to do action [createIndex] on [wf.keys]",
      }),
    ).toBe(true);
    expect(refused({ code: 8000, codeName: "AtlasError", errmsg: "some other Atlas condition" })).toBe(false);
    expect(refused({ code: 91, codeName: "ShutdownInProgress", errmsg: "shutting down" })).toBe(false);
  });
});

describe("read concern (issue 18.4)", () => {
  it("refuses MONGODB_INTROSPECT_READ_CONCERN=linearizable on a standalone server at start, with one error line", async () => {
    const c = open({ introspectReadConcern: "linearizable" });
    expect(await pollUntil(async () => (await failure(c)).includes("standalone"))).toBe(true);
    expect(await failure(c)).toMatch(/linearizable needs a replica set.*NotAReplicaSet, 76/);
    expect(commands("createIndexes")).toEqual([]);
    expect(errorLines()).toHaveLength(1);
  });

  it("takes linearizable on a replica set (control)", async () => {
    stub.replicaSet = true;
    expect(await ready(open({ introspectReadConcern: "linearizable" }))).toBe(true);
  });

  it("counts NotAReplicaSet (76) and LinearizableReadConcernError (187) as unavailable, not INTERNAL", () => {
    for (const code of [76, 187]) {
      const err = new MongoServerError({ ok: 0, code, errmsg: `scripted ${code}` });
      expect(toStoreError(err, "findKeyByHash")).toBeInstanceOf(StoreUnavailableError);
    }
  });

  it("a readConcernLevel in the connection string reaches neither ordinary reads nor the change stream", async () => {
    stub.replicaSet = true;
    const aggregates: Document[] = [];
    stub.handle = (cmd) => {
      if (cmd.name === "find")
        return { cursor: { id: BSON.Long.ZERO, ns: `wf.${cmd.doc.find}`, firstBatch: [] }, ok: 1 };
      if (cmd.name === "aggregate") {
        aggregates.push(cmd.doc);
        return {
          cursor: {
            id: BSON.Long.fromNumber(7),
            ns: "wf.$cmd.aggregate",
            firstBatch: [],
            postBatchResumeToken: { _data: "01" },
          },
          ok: 1,
        };
      }
      if (cmd.name === "getMore") return new Promise(() => undefined); // an awaitData getMore that never ends
      return undefined;
    };
    const opened = createMongoStore({
      uri: `${stub.uri}&readConcernLevel=linearizable`,
      dbName: "wf",
      logger,
      retry: { initialMs: 10, maxMs: 20 },
    });
    store = opened.store;
    const stop = opened.changes.subscribe(() => undefined);
    try {
      expect(
        await pollUntil(() =>
          store!.getKey("acme", "key_x").then(
            () => true,
            () => false,
          ),
        ),
      ).toBe(true);
      const find = commands("find").at(-1)!;
      expect(find.doc.readConcern).toEqual({ level: "local" });
      expect(await pollUntil(() => aggregates.length > 0)).toBe(true);
      expect(aggregates[0]!.readConcern?.level).not.toBe("linearizable");
    } finally {
      stop();
    }
  });
});

describe("sharded clusters (issue 18.5)", () => {
  it("refuses a sharded keys collection at start with one clear error, before building any index", async () => {
    stub.mongos = true;
    stub.handle = (cmd) =>
      cmd.name === "collStats"
        ? { ok: 1, ns: `wf.${cmd.doc.collStats}`, sharded: cmd.doc.collStats === "keys" }
        : undefined;
    const c = open();
    expect(await pollUntil(async () => (await failure(c)).includes("sharded"))).toBe(true);
    expect(await failure(c)).toMatch(/wf\.keys are sharded; keys and audit_events must stay unsharded/);
    expect(commands("createIndexes")).toEqual([]);
    expect(errorLines()).toHaveLength(1);
  });

  it("starts through mongos when keys and audit_events are unsharded; asks nothing of a replica set", async () => {
    stub.mongos = true;
    stub.handle = (cmd) =>
      cmd.name === "collStats" ? { ok: 1, ns: `wf.${cmd.doc.collStats}`, sharded: false } : undefined;
    expect(await ready(open())).toBe(true);
    expect(commands("collStats").map((c) => c.doc.collStats)).toEqual(["keys", "audit_events"]);
    await conn!.close();
    conn = undefined;
    stub.mongos = false;
    stub.replicaSet = true;
    stub.commands.length = 0;
    expect(await ready(open())).toBe(true);
    expect(commands("collStats")).toEqual([]);
  });
});

describe("shutdown during an index build (issue 18.13)", () => {
  it("close() does not wait on a build that never answers (it has no socket timeout)", async () => {
    stub.handle = (cmd) => (cmd.name === "createIndexes" ? new Promise<Document>(() => undefined) : undefined);
    const c = open();
    expect(await pollUntil(() => commands("createIndexes").length > 0)).toBe(true);
    const started = performance.now();
    const closed = await Promise.race([c.close().then(() => true), sleep(5000).then(() => false)]);
    conn = undefined;
    expect(closed).toBe(true);
    expect(performance.now() - started).toBeLessThan(2000);
  }, 10_000);
});

describe("readiness ping (issue 18.11)", () => {
  it("answers while the replica set has no primary (an election): any member can serve", async () => {
    stub.replicaSet = true;
    const uri = `mongodb://127.0.0.1:${stub.port}/?replicaSet=rs0&heartbeatFrequencyMS=500`;
    const opened = createMongoStore({
      uri,
      dbName: "wf",
      logger,
      retry: { initialMs: 10, maxMs: 20 },
      timeouts: { serverSelectionTimeoutMS: 500 },
    });
    store = opened.store;
    expect(
      await pollUntil(() =>
        store!.ping().then(
          () => true,
          () => false,
        ),
      ),
    ).toBe(true);
    stub.secondary = true; // the primary stepped down; no new one yet
    stub.dropConnections();
    // Reads that need the primary now fail: the driver knows there is none.
    expect(
      await pollUntil(
        () =>
          store!.getKey("acme", "key_x").then(
            () => false,
            () => true,
          ),
        5000,
        100,
      ),
    ).toBe(true);
    await expect(store.ping()).resolves.toBeUndefined();
    const ping = commands("ping").at(-1)!;
    expect(ping.doc.$readPreference).toEqual({ mode: "primaryPreferred" });
  }, 15_000);
});
