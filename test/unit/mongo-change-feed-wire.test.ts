import { BSON, type Document, MongoClient } from "mongodb";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createMongoChangeFeed } from "../../src/adapters/mongo/mongo-change-feed.js";
import { createMongoStore } from "../../src/adapters/mongo/mongo-token-store.js";
import type { StoreChange, StoreChangeFeed } from "../../src/ports/store-changes.js";
import { pollUntil as until, sleep } from "../support/poll.js";
import { useMongoWireStub } from "../support/mongo-wire-fixture.js";

/**
 * The change feed with the driver's real ChangeStream, against a scripted MongoDB at the wire
 * (test/support/mongo-wire-stub.ts; no mongod here): checks that what mongo-change-feed.ts assumes
 * about the driver's events holds (the stream is established on its first post-batch resume token;
 * a non-resumable error is `error` then `close`; an invalidate ends the stream with `close` only;
 * the driver's own resume closes the old cursor without ending the stream).
 */
type GetMore = "empty" | "invalidate" | Document;
const stub = useMongoWireStub({ replicaSet: true });
let client: MongoClient;
let getMores: GetMore[]; // scripted answers to the next getMore commands (then: empty batches)
let stop: (() => void) | undefined;
const seen: StoreChange[] = [];
let cursorIds = 100;
const SELECTION_MS = 300;

beforeEach(async () => {
  getMores = [];
  seen.length = 0;
  stub.handle = async ({ name, doc }) => {
    const ns = "wf.$cmd.aggregate";
    if (name === "aggregate") {
      return {
        cursor: { id: BSON.Long.fromNumber(cursorIds++), ns, firstBatch: [], postBatchResumeToken: { _data: "01" } },
        operationTime: new BSON.Timestamp({ t: 1, i: 1 }),
        ok: 1,
      };
    }
    if (name === "getMore") {
      const next = getMores.shift() ?? "empty";
      if (next === "empty") {
        await sleep(30); // an awaitData getMore that found nothing
        return {
          cursor: {
            id: BSON.Long.fromNumber(Number(doc.getMore)),
            ns,
            nextBatch: [],
            postBatchResumeToken: { _data: "02" },
          },
          ok: 1,
        };
      }
      if (next === "invalidate") {
        const event = {
          _id: { _data: "03" },
          operationType: "invalidate",
          clusterTime: new BSON.Timestamp({ t: 2, i: 1 }),
        };
        return { cursor: { id: BSON.Long.ZERO, ns, nextBatch: [event], postBatchResumeToken: { _data: "03" } }, ok: 1 };
      }
      return next;
    }
    return undefined;
  };
  client = new MongoClient(stub.uri, { serverSelectionTimeoutMS: SELECTION_MS });
  await client.connect();
});
afterEach(async () => {
  stop?.();
  await client.close();
});

function watch(): StoreChangeFeed {
  const feed = createMongoChangeFeed(async () => client.db("wf"), {
    backoff: { initialMs: 10, maxMs: 50 },
    closeSettleMs: SELECTION_MS + 500,
  }); // as in production
  stop = feed.subscribe((c) => seen.push(c));
  return feed;
}
const aggregates = () => stub.commands.filter((c) => c.name === "aggregate");
const resets = () => seen.filter((c) => c.kind === "reset").length;

describe("MongoDB change feed with the real driver (issue 10.1-10.3)", () => {
  it("is established, and resets, when the aggregate has answered", async () => {
    const feed = watch();
    expect(await until(() => feed.status!().state === "live")).toBe(true);
    expect(aggregates()).toHaveLength(1);
    expect(resets()).toBe(1);
  });

  it("reopens after 136 CappedPositionLost, resetting once the new stream is established", async () => {
    const feed = watch();
    expect(await until(() => feed.status!().state === "live")).toBe(true);
    getMores.push({
      ok: 0,
      code: 136,
      codeName: "CappedPositionLost",
      errmsg: "CollectionScan died due to position in capped collection being deleted",
    });
    const ok = await until(() => aggregates().length === 2 && feed.status!().state === "live");
    expect(ok, JSON.stringify([stub.commands.map((c) => c.name), feed.status!(), seen])).toBe(true);
    expect(feed.status!().reopenings).toBe(1);
    expect(resets()).toBe(2);
  });

  it("asks the server to answer an idle getMore within 250 ms (maxAwaitTimeMS: the stream's sign of life, 1 s by the server's default)", async () => {
    const feed = watch();
    expect(await until(() => feed.status!().state === "live")).toBe(true);
    expect(await until(() => stub.commands.some((c) => c.name === "getMore"))).toBe(true);
    const getMore = stub.commands.find((c) => c.name === "getMore")!;
    expect(getMore.doc.maxTimeMS).toBe(250);
  });

  it("stays live on an idle stream whose resume token never changes (the driver emits resumeTokenChanged for every empty batch: the feed's sign of life)", async () => {
    // The stub answers every getMore with the same postBatchResumeToken ("02"), as an idle
    // replica set may between its periodic no-op writes.
    const feed = watch();
    expect(await until(() => feed.status!().state === "live")).toBe(true);
    const from = stub.commands.filter((c) => c.name === "getMore").length;
    for (let i = 0; i < 6; i++) {
      await sleep(250);
      expect(feed.status!().state).toBe("live"); // past the 750 ms liveness bound: still live
    }
    expect(stub.commands.filter((c) => c.name === "getMore").length - from).toBeGreaterThan(10);
  });

  it("asks the server for an insert's tenant and token hash, and of a document nothing else", async () => {
    const feed = watch();
    expect(await until(() => feed.status!().state === "live")).toBe(true);
    const pipeline = aggregates()[0]!.doc.pipeline as Record<string, Record<string, unknown>>[];
    const project = pipeline.find((stage) => stage.$project)!.$project!;
    const documentFields = Object.keys(project).filter((f) => f.startsWith("fullDocument."));
    expect(documentFields.sort()).toEqual([
      "fullDocument.hipaaEnabled",
      "fullDocument.tenantId",
      "fullDocument.tokenHash",
    ]);
  });

  it("reopens after an invalidate (the stream closes without an error)", async () => {
    const feed = watch();
    expect(await until(() => feed.status!().state === "live")).toBe(true);
    getMores.push("invalidate");
    expect(await until(() => aggregates().length === 2 && feed.status!().state === "live")).toBe(true);
    expect(feed.status!().reopenings).toBe(1);
    expect(resets()).toBe(2);
  });

  it("leaves the driver's own resume alone (no reopen, no reset)", async () => {
    const feed = watch();
    expect(await until(() => feed.status!().state === "live")).toBe(true);
    // A step-down: resumable for the driver (lib/error.js isResumableError: the label). The driver
    // marks the server Unknown (its monitor checks again after minHeartbeatFrequencyMS, 500 ms),
    // closes the old cursor (killCursors gives up after the 300 ms server selection timeout: the
    // ChangeStream forwards the cursor's `close` and reports `closed` for ~200 ms), then finds the
    // primary again and opens a new cursor with resumeAfter itself: nothing was missed.
    getMores.push({
      ok: 0,
      code: 10107,
      codeName: "NotWritablePrimary",
      errmsg: "not primary",
      errorLabels: ["ResumableChangeStreamError"],
    });
    expect(await until(() => aggregates().length === 2)).toBe(true);
    expect(aggregates()[1]!.doc.pipeline[0].$changeStream.resumeAfter).toBeDefined();
    // Past the settle time, still the same stream: not counted as an end.
    expect(await until(() => feed.status!().reopenings > 0, 2000)).toBe(false);
    expect(feed.status!().state).toBe("live");
    expect(resets()).toBe(1);
  });

  it("stops for good where change streams do not exist (40573)", async () => {
    stub.handle = ({ name }) =>
      name === "aggregate"
        ? {
            ok: 0,
            code: 40573,
            codeName: "Location40573",
            errmsg: "The $changeStream stage is only supported on replica sets",
          }
        : undefined;
    const feed = watch();
    expect(await until(() => feed.status!().state === "unsupported")).toBe(true);
    expect(await until(() => aggregates().length > 1, 300)).toBe(false);
  });
});

describe("an election while the driver resumes the stream (issue 18.7)", () => {
  /** A step-down on the getMore, then no server answers hello for `ms` (the election), then the new primary. */
  function elect(ms: number): void {
    const inner = stub.handle;
    let until = 0;
    let steppedDown = false;
    stub.handle = (cmd) => {
      if ((cmd.name === "hello" || cmd.name === "isMaster" || cmd.name === "ismaster") && Date.now() < until)
        throw new Error("electing");
      if (cmd.name === "getMore" && !steppedDown) {
        // The primary steps down: this getMore fails, and no server answers hello for `ms`.
        steppedDown = true;
        until = Date.now() + ms;
        return {
          ok: 0,
          code: 10107,
          codeName: "NotWritablePrimary",
          errmsg: "not primary",
          errorLabels: ["ResumableChangeStreamError"],
        };
      }
      return inner(cmd);
    };
  }
  const resumed = () => aggregates().filter((a) => a.doc.pipeline[0].$changeStream.resumeAfter !== undefined);

  // What the driver does (node_modules/mongodb/lib/cursor/abstract_cursor.js cleanup, then
  // change_stream.js _processErrorStreamMode/_resume): the failed getMore's cursor sends killCursors,
  // which waits for a server up to serverSelectionTimeoutMS (S) and then gives up; only then does
  // the cursor emit `close` (the stream reports `closed`), and _resume waits for a server up to S
  // again before it opens the new cursor. An election longer than S keeps the stream closed for up
  // to S after its `close`.
  it("waits as long as the client's effective serverSelectionTimeoutMS (the connection string's wins), so the driver's resume is not taken for an end", async () => {
    // The service's own value would be 200 ms (settle 700 ms); the connection string says 2000 ms, and the driver uses that.
    const uri = `${stub.uri}&serverSelectionTimeoutMS=2000`;
    const { store, changes } = createMongoStore({
      uri,
      dbName: "wf",
      retry: { initialMs: 10, maxMs: 20 },
      timeouts: { serverSelectionTimeoutMS: 200 },
    });
    stop = changes.subscribe((c) => seen.push(c));
    try {
      expect(await until(() => changes.status!().state === "live")).toBe(true);
      // killCursors gives up at 2 s (close); the driver's resume then waits until the election ends
      // at 3 s: past a settle time of 700 ms, within one of 2500 ms.
      elect(3000);
      expect(await until(() => resumed().length === 1, 8000)).toBe(true);
      expect(await until(() => changes.status!().reopenings > 0 || aggregates().length > 2, 1500)).toBe(false);
      expect(changes.status!().state).toBe("live");
      expect(resets()).toBe(1);
    } finally {
      stop?.();
      stop = undefined;
      await store.close();
    }
  }, 20_000);

  it("a stream the feed ended during the driver's resume opens no cursor when the resume completes (no leaked change-stream cursor)", async () => {
    const patient = new MongoClient(stub.uri, { serverSelectionTimeoutMS: 2000 });
    await patient.connect();
    // A settle time shorter than the election: the feed gives up on the stream while the driver still resumes it.
    const feed = createMongoChangeFeed(async () => patient.db("wf"), {
      backoff: { initialMs: 10, maxMs: 50 },
      closeSettleMs: 100,
    });
    stop = feed.subscribe((c) => seen.push(c));
    try {
      expect(await until(() => feed.status!().state === "live")).toBe(true);
      elect(2500); // killCursors gives up at 2 s; the feed ends the stream 100 ms later; the driver's resume completes at ~2.5 s
      // The feed reopened a fresh stream (no resume token), which is established after the election.
      expect(await until(() => feed.status!().reopenings === 1 && feed.status!().state === "live", 8000)).toBe(true);
      // The driver's resume of the ended stream completed too; it must not have sent its aggregate.
      await sleep(1000);
      expect(resumed()).toEqual([]);
      expect(aggregates()).toHaveLength(2);
    } finally {
      stop?.();
      stop = undefined;
      await patient.close();
    }
  }, 20_000);
});
