import { BSON } from "mongodb";
import pino from "pino";
import { beforeEach, describe, expect, it } from "vitest";
import { createMongoConnection, type MongoConnection } from "../../src/adapters/mongo/mongo-connection.js";
import { AUDIT_INDEXES, INDEX, KEY_INDEXES, SESSION_INDEXES } from "../../src/adapters/mongo/mongo-indexes.js";
import { WEBHOOK_ENDPOINT_INDEXES, WEBHOOK_OUTBOX_INDEXES } from "../../src/adapters/mongo/mongo-webhook-store.js";
import { StoreUnavailableError } from "../../src/domain/errors.js";
import { pollUntil as until, sleep } from "../support/poll.js";
import { useMongoWireStub } from "../support/mongo-wire-fixture.js";
import { lineSink } from "../support/log-lines.js";

/**
 * The connection's start-up (indexes) and its view of the deployment (transactions), with the real
 * driver talking to a scripted MongoDB at the wire (test/support/mongo-wire-stub.ts; no mongod here).
 */
const stub = useMongoWireStub();
const { lines, stream } = lineSink();
const logger = pino({ level: "info" }, stream);
beforeEach(() => {
  lines.length = 0;
});

const open = (timeouts: Record<string, number> = {}) =>
  stub.closeAfter(
    createMongoConnection({ uri: stub.uri, dbName: "wf", logger, retry: { initialMs: 10, maxMs: 20 }, timeouts }),
  );
const commands = (name: string) => stub.commands.filter((c) => c.name === name);
const ready = (c: MongoConnection) =>
  until(() =>
    c.db().then(
      () => true,
      () => false,
    ),
  );
const SPECS: Record<string, typeof KEY_INDEXES> = {
  keys: KEY_INDEXES,
  sessions: SESSION_INDEXES,
  audit_events: AUDIT_INDEXES,
  webhook_endpoints: WEBHOOK_ENDPOINT_INDEXES,
  webhook_outbox: WEBHOOK_OUTBOX_INDEXES,
};
const listed = (specs: typeof KEY_INDEXES) => [
  { v: 2, key: { _id: 1 }, name: "_id_" },
  ...specs.map((s) => ({ v: 2, ...s })),
];

describe("MongoDB start-up: indexes (issue 10.9)", () => {
  it("builds nothing, on no extra connection, when listIndexes shows every exact spec", async () => {
    stub.handle = (cmd) =>
      cmd.name === "listIndexes"
        ? {
            cursor: {
              id: BSON.Long.ZERO,
              ns: `wf.${cmd.doc.listIndexes}`,
              firstBatch: listed(SPECS[cmd.doc.listIndexes as string]!),
            },
            ok: 1,
          }
        : undefined;
    const ok = await ready(open());
    expect(ok, lines.join("\n")).toBe(true);
    expect(commands("createIndexes")).toEqual([]);
    expect(stub.commands.some((c) => c.appName === "warpflow-token-service-indexes")).toBe(false);
  });

  it("builds a missing index on a connection without the socket timeout, so a slow build completes", async () => {
    stub.handle = async (cmd) => {
      if (cmd.name !== "createIndexes") return undefined;
      await sleep(300); // longer than the 100 ms socket timeout below
      return { ok: 1, createdCollectionAutomatically: false, numIndexesBefore: 1, numIndexesAfter: 2 };
    };
    const c = open({ socketTimeoutMS: 100 });
    expect(await ready(c)).toBe(true);
    const builds = commands("createIndexes");
    expect(builds.map((b) => (b.doc.indexes as { name: string }[])[0]!.name)).toEqual(
      [
        ...KEY_INDEXES,
        ...SESSION_INDEXES,
        ...AUDIT_INDEXES,
        ...WEBHOOK_ENDPOINT_INDEXES,
        ...WEBHOOK_OUTBOX_INDEXES,
      ].map((s) => s.name),
    );
    expect(builds.every((b) => b.appName === "warpflow-token-service-indexes")).toBe(true);
  }, 20_000);

  it("stops on an index conflict (85) with one error line naming the index, instead of retrying forever", async () => {
    stub.handle = (cmd) =>
      cmd.name === "createIndexes"
        ? {
            ok: 0,
            code: 85,
            codeName: "IndexOptionsConflict",
            errmsg: "Index already exists with a different name: tokenHash_1",
          }
        : undefined;
    const c = open();
    expect(
      await until(async () =>
        (
          await c.db().then(
            () => "",
            (e: Error) => e.message,
          )
        ).includes(INDEX.keyTokenHash),
      ),
    ).toBe(true);
    const err = await c.db().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect((err as Error).message).toMatch(/different name: tokenHash_1.*dropIndex/);
    // With a 10 ms retry back-off, a retry would show within the next half second.
    expect(await until(() => commands("createIndexes").length > 1, 500)).toBe(false);
    const errors = lines.filter((l) => JSON.parse(l).level === 50);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain(INDEX.keyTokenHash);
  });
});

describe("MongoDB transactions are decided from the server's hello (issue 10.7)", () => {
  it("follows the deployment: standalone, then a replica-set member, then standalone again after a reconnect", async () => {
    const c = open();
    expect(await ready(c)).toBe(true);
    expect(c.transactionsSupported()).toBe(false);
    stub.replicaSet = true; // the next heartbeat's hello says so
    expect(await until(() => c.transactionsSupported() === true)).toBe(true);
    stub.replicaSet = false;
    stub.dropConnections(); // the node restarted without --replSet
    expect(await until(() => c.transactionsSupported() === false)).toBe(true);
  }, 20_000);
});
