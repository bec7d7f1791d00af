import type { ChangeStream, Db, Document } from "mongodb";
import type { Logger } from "pino";
import type { StoreChange, StoreChangeFeed } from "../../ports/store-changes.js";
import { COLLECTIONS } from "./mongo-documents.js";

/**
 * Cache invalidation across instances from a MongoDB change stream (replica sets and sharded
 * clusters; Atlas). One database-level stream, filtered on the server to what caches care about:
 * key updates that touch `status` (revoke, rotate, sweep; not the frequent lastUsedAt writes),
 * replaced or deleted keys, and every tenant policy change. Events carry only the document key
 * (no updateLookup read). The driver resumes the stream itself after a transient error; if it
 * closes, it is reopened with backoff. Where change streams are unsupported (a standalone server:
 * "The $changeStream stage is only supported on replica sets"), watching stops with one log line
 * and the caches' TTL (CACHE_TTL_MS) stays the staleness bound.
 * https://www.mongodb.com/docs/manual/changeStreams/
 * https://www.mongodb.com/docs/drivers/node/current/monitoring-and-logging/change-streams/
 */
const PIPELINE: Document[] = [
  {
    $match: {
      $or: [
        { "ns.coll": COLLECTIONS.policies },
        { "ns.coll": COLLECTIONS.keys, operationType: { $in: ["replace", "delete"] } },
        { "ns.coll": COLLECTIONS.keys, operationType: "update", "updateDescription.updatedFields.status": { $exists: true } },
        // A revoked session (RevokeSession, RevokeTenantSessions: one event per session).
        { "ns.coll": COLLECTIONS.sessions, operationType: "update", "updateDescription.updatedFields.revokedAt": { $exists: true } },
      ],
    },
  },
  { $project: { ns: 1, documentKey: 1, operationType: 1 } },
];

const UNSUPPORTED = new Set([40573, 40324, 136]); // not a replica set; unrecognized stage; capped/disabled

export function createMongoChangeFeed(db: () => Promise<Db>, logger?: Logger): StoreChangeFeed {
  const log = logger?.child({ component: "mongodb-change-stream" });
  return {
    subscribe(listener) {
      let stopped = false;
      let stream: ChangeStream | undefined;
      let timer: NodeJS.Timeout | undefined;
      let backoff = 500;
      let interrupted = false;

      const retry = () => {
        if (stopped) return;
        timer = setTimeout(open, backoff);
        timer.unref();
        backoff = Math.min(backoff * 2, 30_000);
      };

      async function open(): Promise<void> {
        if (stopped) return;
        try {
          stream = (await db()).watch(PIPELINE);
          stream.on("change", (event: Document) => {
            backoff = 500;
            const coll = event.ns?.coll as string | undefined;
            const id = event.documentKey?._id as string | undefined;
            if (typeof id !== "string") return;
            const change: StoreChange =
              coll === COLLECTIONS.policies
                ? { kind: "policy", tenantId: id }
                : coll === COLLECTIONS.sessions
                  ? { kind: "session", sessionId: id }
                  : { kind: "key", keyId: id };
            listener(change);
          });
          stream.on("error", (err: Error & { code?: number }) => {
            void stream?.close().catch(() => undefined);
            if (err.code !== undefined && UNSUPPORTED.has(err.code)) {
              log?.info({ err: err.message }, "change streams unavailable: cross-instance invalidation relies on CACHE_TTL_MS");
              stopped = true;
              return;
            }
            log?.warn({ err: err.message }, "change stream closed; reopening");
            interrupted = true;
            retry();
          });
          log?.info("watching key and policy changes (change stream)");
          // Events between the old stream's end and this one are lost: start from a clean cache.
          if (interrupted) listener({ kind: "reset" });
          interrupted = false;
        } catch (err) {
          log?.warn({ err: (err as Error).message }, "cannot open change stream yet; retrying");
          retry();
        }
      }
      void open();

      return () => {
        stopped = true;
        clearTimeout(timer);
        void stream?.close().catch(() => undefined);
      };
    },
  };
}
