// Cache invalidation across instances from a MongoDB change stream (replica sets and sharded
// clusters; Atlas). One database-level stream, filtered on the server to what caches care about:
// key updates that touch `status` (revoke, rotate, sweep; not the frequent lastUsedAt writes),
// replaced or deleted keys, revoked sessions, and every tenant policy change. Events carry only the document key
// (no updateLookup read).
//
// The driver resumes the stream itself after a resumable error (node_modules/mongodb/lib/
// change_stream.js, _processErrorStreamMode). Anything else ends the stream: an error the driver
// does not resume (e.g. 136 CappedPositionLost or 286 ChangeStreamHistoryLost: the oplog moved
// past the stream's position) or a close without error (an `invalidate` event: the database was
// dropped or renamed; the driver then emits only `close`/`end`). Each ended stream is handled
// exactly once: the feed reopens a fresh stream with backoff, and when the new stream is
// established (its first resume token or event: `watch()` is lazy, the aggregate runs later) the
// caches are reset, since events between the two streams are lost. Only "change streams do not
// exist here" stops the feed for good (40573 not a replica set, 40324 unknown stage, 8000 an Atlas
// tier without change streams), with one log line; CACHE_TTL_MS then stays the staleness bound.
// https://www.mongodb.com/docs/manual/changeStreams/
// https://github.com/mongodb/specifications/blob/master/source/change-streams/change-streams.md
import type { Document } from "mongodb";
import type { Logger } from "pino";
import type { ChangeFeedStatus, StoreChange, StoreChangeFeed } from "../../ports/store-changes.js";
import { COLLECTIONS } from "./mongo-documents.js";

const PIPELINE: Document[] = [
  {
    $match: {
      $or: [
        { "ns.coll": COLLECTIONS.policies },
        { "ns.coll": COLLECTIONS.keys, operationType: { $in: ["replace", "delete", "insert"] } },
        // A new session (WatchInvalidations: callers drop negative entries of the tenant's sessions).
        { "ns.coll": COLLECTIONS.sessions, operationType: "insert" },
        {
          "ns.coll": COLLECTIONS.keys,
          operationType: "update",
          "updateDescription.updatedFields.status": { $exists: true },
        },
        // Issue 22: a suspended key (suspendedAt set) or a resumed one (suspendedAt removed).
        {
          "ns.coll": COLLECTIONS.keys,
          operationType: "update",
          $or: [
            { "updateDescription.updatedFields.suspendedAt": { $exists: true } },
            { "updateDescription.removedFields": "suspendedAt" },
          ],
        },
        // A revoked session (RevokeSession, RevokeTenantSessions: one event per session).
        {
          "ns.coll": COLLECTIONS.sessions,
          operationType: "update",
          "updateDescription.updatedFields.revokedAt": { $exists: true },
        },
        // The stream's own end (the database was dropped or renamed): handled as a close.
        { operationType: "invalidate" },
      ],
    },
  },
  // Ids only: of an insert's document just its tenant and token hash, of a key update just the new status; of a
  // policy insert or replace (setPolicy upserts the whole document) or update its HIPAA flag
  // (WatchInvalidations tells callers the new policy).
  {
    $project: {
      ns: 1,
      documentKey: 1,
      operationType: 1,
      "fullDocument.tenantId": 1,
      // A new key's or session's token hash (never the token): this instance's cache drops its
      // not-found answer for exactly that token.
      "fullDocument.tokenHash": 1,
      "fullDocument.hipaaEnabled": 1,
      "updateDescription.updatedFields.status": 1,
      "updateDescription.updatedFields.hipaaEnabled": 1,
      "updateDescription.updatedFields.suspendedAt": 1,
      "updateDescription.removedFields": 1,
    },
  },
];

interface ChangeEvent {
  operationType?: unknown;
  ns?: { coll?: unknown };
  documentKey?: { _id?: unknown };
  fullDocument?: { tenantId?: unknown; hipaaEnabled?: unknown; tokenHash?: unknown };
  updateDescription?: {
    updatedFields?: { status?: unknown; hipaaEnabled?: unknown; suspendedAt?: unknown };
    removedFields?: unknown;
  };
}

const stringOr = (v: unknown) => (typeof v === "string" ? v : undefined);
const boolOr = (v: unknown) => (typeof v === "boolean" ? v : undefined);

function toChange(coll: string | undefined, id: string, event: ChangeEvent): StoreChange {
  const inserted = event.operationType === "insert";
  const tenantId = stringOr(event.fullDocument?.tenantId);
  if (coll === COLLECTIONS.policies) {
    // A delete (or an event without the field) carries no policy: unknown, callers drop the tenant.
    const hipaaEnabled =
      event.operationType === "delete"
        ? undefined
        : (boolOr(event.fullDocument?.hipaaEnabled) ?? boolOr(event.updateDescription?.updatedFields?.hipaaEnabled));
    return { kind: "policy", tenantId: id, hipaaEnabled };
  }
  const tokenHash = stringOr(event.fullDocument?.tokenHash);
  if (coll === COLLECTIONS.sessions)
    return inserted
      ? { kind: "session_created", sessionId: id, tenantId, tokenHash }
      : { kind: "session", sessionId: id };
  if (inserted) return { kind: "key_created", keyId: id, tenantId, tokenHash };
  const update = event.updateDescription;
  // Issue 22: suspended (suspendedAt set) or resumed (suspendedAt removed); undefined: neither.
  const suspended =
    update?.updatedFields?.suspendedAt !== undefined
      ? true
      : Array.isArray(update?.removedFields) && update.removedFields.includes("suspendedAt")
        ? false
        : undefined;
  return { kind: "key", keyId: id, status: stringOr(update?.updatedFields?.status), suspended };
}

/** Change streams do not exist on this deployment: reopening cannot help. */
const PERMANENT = new Set([
  40573, // "The $changeStream stage is only supported on replica sets"
  40324, // Unrecognized pipeline stage name: '$changeStream'
  8000, // AtlasError: a tier without change streams
]);

/** The part of a driver ChangeStream the feed uses (an EventEmitter: change, resumeTokenChanged, error, close, end). */
export interface ChangeStreamLike {
  on(event: string, listener: (arg: unknown) => void): unknown;
  removeAllListeners?(event: string): unknown;
  close(): Promise<void>;
  readonly closed: boolean;
}

export interface WatchableDb {
  watch(pipeline: Document[], options: { maxAwaitTimeMS: number }): ChangeStreamLike;
  /** The driver's client: its resolved options (the connection string's included) give the effective server selection timeout. */
  readonly client?: { readonly options?: { readonly serverSelectionTimeoutMS?: number } };
}

export interface ChangeFeedOptions {
  logger?: Logger | undefined;
  /** Reopen back-off: starts at initialMs, doubles, capped at maxMs. */
  backoff?: { initialMs?: number; maxMs?: number } | undefined;
  /**
   * How long a stream that emitted `close` may stay closed before it counts as ended. The driver's
   * own resume also closes the old cursor (whose `close` the ChangeStream forwards) and opens a new
   * one after a server selection; longer than serverSelectionTimeoutMS, so a resume is not mistaken
   * for an end. Default: the client's effective serverSelectionTimeoutMS (a value in the
   * connection string wins over the service's default in the driver) plus 500 ms.
   */
  closeSettleMs?: number | undefined;
  /**
   * How long the server holds an awaitData getMore that finds nothing (the stream's
   * maxAwaitTimeMS; the server's default is 1 s). An idle stream answers this often, each answer a
   * post-batch resume token: the stream's sign of life. Default 250 ms.
   */
  awaitMs?: number | undefined;
  /**
   * How long an established stream may show no life (no event, no resume token) before it counts
   * as stalled (not live: heartbeats say complete=false) until it answers again. Default 3 x
   * awaitMs (750 ms): with the hub's prompt heartbeat on that change (invalidation-hub.ts), a
   * client hears complete=false within a second of a change this instance missed, the client's
   * staleness bound (docs/watch-protocol.md). Was 3 s on the server's 1 s default.
   */
  livenessMs?: number | undefined;
}

export function createMongoChangeFeed(
  db: () => Promise<WatchableDb>,
  options: ChangeFeedOptions = {},
): StoreChangeFeed {
  const log = options.logger?.child({ component: "mongodb-change-stream" });
  const initialMs = options.backoff?.initialMs ?? 500;
  const awaitMs = options.awaitMs ?? 250;
  const livenessMs = options.livenessMs ?? 3 * awaitMs;
  const maxMs = options.backoff?.maxMs ?? 30_000;
  /** The settle time for streams of `database`: the driver resumes within its effective server selection timeout. */
  const settleFor = (database: WatchableDb) => {
    if (options.closeSettleMs !== undefined) return options.closeSettleMs;
    const selection = database.client?.options?.serverSelectionTimeoutMS;
    return (typeof selection === "number" && selection > 0 ? selection : 30_000) + 500;
  };
  const status: ChangeFeedStatus = { state: "connecting", reopenings: 0 };

  return {
    status: () => ({ ...status }),
    subscribe(listener) {
      let stopped = false;
      let current: ChangeStreamLike | undefined;
      let timer: NodeJS.Timeout | undefined;
      let backoff = initialMs;

      const retry = () => {
        if (stopped) return;
        timer = setTimeout(() => void open(), backoff);
        timer.unref();
        backoff = Math.min(backoff * 2, maxMs);
      };

      /** A stream ended (error, close or end): called once per stream, whatever it emits after. */
      const ended = (stream: ChangeStreamLike, err?: Error & { code?: unknown }) => {
        if (stream !== current) return;
        current = undefined;
        // Without `change` listeners a resume the driver still has in flight (ChangeStream._resume
        // creates its new cursor after the server selection even when the stream was closed
        // meanwhile) only builds a cursor object: it never sends the aggregate, so no server-side
        // cursor is opened and left behind.
        stream.removeAllListeners?.("change");
        void stream.close().catch(() => undefined);
        if (stopped) return;
        if (err && typeof err.code === "number" && PERMANENT.has(err.code)) {
          status.state = "unsupported";
          log?.info(
            { err: err.message, code: err.code },
            "change streams unavailable: cross-instance invalidation relies on CACHE_TTL_MS",
          );
          stopped = true;
          return;
        }
        status.state = "reopening";
        status.reopenings++;
        log?.warn(
          { err: err?.message ?? "closed without error (invalidate)", code: err?.code, retryInMs: backoff },
          "change stream ended; reopening (caches fall back to CACHE_TTL_MS until then)",
        );
        retry();
      };

      async function open(): Promise<void> {
        if (stopped) return;
        let stream: ChangeStreamLike;
        let closeSettleMs: number;
        try {
          const database = await db();
          if (stopped) return; // unsubscribed while connecting: open nothing
          closeSettleMs = settleFor(database);
          stream = database.watch(PIPELINE, { maxAwaitTimeMS: awaitMs });
        } catch (err) {
          log?.warn({ err: (err as Error).message, retryInMs: backoff }, "cannot open change stream yet; retrying");
          retry();
          return;
        }
        current = stream;
        let established = false;
        // Silence: an established stream answers every awaitData getMore within awaitMs (its
        // maxAwaitTimeMS), each with a post-batch resume token (resumeTokenChanged),
        // or sooner with events. Nothing for livenessMs (a getMore hung on a dead connection, which
        // fails only at socketTimeoutMS): stalled, not live, until it answers again.
        let quiet: NodeJS.Timeout | undefined;
        const heard = () => {
          if (quiet) quiet.refresh();
          else {
            quiet = setTimeout(() => {
              if (stream === current && status.state === "live") status.state = "stalled";
            }, livenessMs);
            quiet.unref();
          }
        };
        const establish = () => {
          if (stream !== current) return;
          heard();
          if (established) {
            // The driver's resumed cursor answered (its resume token or an event), or a silent
            // stream answered again: live again, without a reset (the stream continues after the
            // last event seen: nothing was lost).
            if (status.state === "resuming" || status.state === "stalled") status.state = "live";
            return;
          }
          established = true;
          backoff = initialMs;
          status.state = "live";
          log?.info("watching key and policy changes (change stream)");
          // Changes before this instant were not (or no longer) watched: start from a clean cache.
          listener({ kind: "reset" });
        };
        stream.on("resumeTokenChanged", establish);
        stream.on("change", (raw: unknown) => {
          const event = raw as ChangeEvent;
          if (stream !== current) return;
          establish();
          if (event.operationType === "invalidate") return ended(stream);
          const coll = event.ns?.coll as string | undefined;
          const id = event.documentKey?._id as string | undefined;
          if (typeof id !== "string") return;
          listener(toChange(coll, id, event));
        });
        stream.on("error", (err) => ended(stream, err as Error & { code?: unknown }));
        // A close without error: an end (after an invalidate), or the old cursor of a resume in
        // progress. Ended if the stream is still closed once a resume would have finished.
        // Until the stream shows life again it delivers nothing: not live (heartbeats say
        // complete=false), though nothing is lost if the driver's resume succeeds.
        const settle = () => {
          if (stream === current && status.state === "live") status.state = "resuming";
          const t = setTimeout(() => stream.closed && ended(stream), closeSettleMs);
          t.unref();
        };
        stream.on("close", settle);
        stream.on("end", settle);
      }
      void open();

      return () => {
        stopped = true;
        status.state = status.state === "unsupported" ? "unsupported" : "stopped";
        clearTimeout(timer);
        const stream = current;
        current = undefined;
        stream?.removeAllListeners?.("change");
        void stream?.close().catch(() => undefined);
      };
    },
  };
}
