import { type Db, MongoServerError } from "mongodb";
import { describe, expect, it, vi } from "vitest";
import { COLLECTIONS } from "../../src/adapters/mongo/mongo-documents.js";
import {
  WEBHOOK_COLLECTIONS,
  WEBHOOK_ENDPOINT_INDEXES,
  WEBHOOK_OUTBOX_INDEXES,
} from "../../src/adapters/mongo/mongo-webhook-store.js";
import {
  AUDIT_INDEXES,
  ensureIndexes,
  INDEX,
  IndexConflictError,
  KEY_INDEXES,
  SESSION_INDEXES,
} from "../../src/adapters/mongo/mongo-indexes.js";

/**
 * Index creation at start-up (issue 10.9) against a scripted Db (no mongod here): the build is
 * skipped when listIndexes already shows every exact spec (no command that a 5 s socket timeout
 * could cut off), missing indexes are built on the separate build connection one by one, and a
 * conflict (85/86) is a configuration error that names the index, not something to retry.
 */
type Listed = Record<string, unknown>[];
function scriptedDb(
  listed: Record<string, Listed | "missing">,
  createIndexes?: (coll: string, specs: unknown[]) => Promise<unknown>,
) {
  const created: string[] = [];
  const make = (): Db =>
    ({
      collection: (name: string) => ({
        listIndexes: () => ({
          toArray: async () => {
            const l = listed[name];
            if (l === "missing")
              throw new MongoServerError({
                ok: 0,
                code: 26,
                codeName: "NamespaceNotFound",
                errmsg: `ns does not exist: db.${name}`,
              });
            return l ?? [];
          },
        }),
        createIndexes: vi.fn(async (specs: { name: string }[]) => {
          await createIndexes?.(name, specs);
          created.push(...specs.map((s) => `${name}.${s.name}`));
          return specs.map((s) => s.name);
        }),
      }),
      createCollection: async () => {
        throw new MongoServerError({ ok: 0, code: 48, codeName: "NamespaceExists", errmsg: "exists" });
      },
    }) as unknown as Db;
  return { db: make(), buildDb: make(), created };
}
// What listIndexes answers for an index built from our spec (the server adds v and keeps the rest).
const asListed = (specs: typeof KEY_INDEXES): Listed => [
  { v: 2, key: { _id: 1 }, name: "_id_" },
  ...specs.map((s) => ({ v: 2, ...s })),
];

describe("index creation at start-up", () => {
  it("builds nothing, and opens no build connection, when every index already exists exactly", async () => {
    const { db, created } = scriptedDb({
      [COLLECTIONS.keys]: asListed(KEY_INDEXES),
      [COLLECTIONS.sessions]: asListed(SESSION_INDEXES),
      [COLLECTIONS.audit]: asListed(AUDIT_INDEXES),
      [WEBHOOK_COLLECTIONS.endpoints]: asListed(WEBHOOK_ENDPOINT_INDEXES),
      [WEBHOOK_COLLECTIONS.outbox]: asListed(WEBHOOK_OUTBOX_INDEXES),
    });
    const build = vi.fn(async () => db);
    expect(await ensureIndexes(db, { build })).toEqual({ built: [] });
    expect(build).not.toHaveBeenCalled();
    expect(created).toEqual([]);
  });

  it("builds only what is missing (or differs), on the build connection", async () => {
    const withoutGrace = KEY_INDEXES.filter((s) => s.name !== INDEX.keyGraceSlot);
    const { db, buildDb, created } = scriptedDb({
      [COLLECTIONS.keys]: asListed(withoutGrace),
      [COLLECTIONS.sessions]: "missing",
      [COLLECTIONS.audit]: asListed(AUDIT_INDEXES),
      [WEBHOOK_COLLECTIONS.endpoints]: asListed(WEBHOOK_ENDPOINT_INDEXES),
      [WEBHOOK_COLLECTIONS.outbox]: asListed(WEBHOOK_OUTBOX_INDEXES),
    });
    const build = vi.fn(async () => buildDb);
    const { built } = await ensureIndexes(db, { build });
    expect(build).toHaveBeenCalledTimes(1);
    expect(built).toEqual([INDEX.keyGraceSlot, ...SESSION_INDEXES.map((s) => s.name)]);
    expect(created).toEqual([`keys.${INDEX.keyGraceSlot}`, ...SESSION_INDEXES.map((s) => `sessions.${s.name}`)]);
  });

  it("reports an index conflict (85/86) as a configuration error naming the index", async () => {
    for (const code of [85, 86]) {
      const { db, buildDb } = scriptedDb(
        { [COLLECTIONS.keys]: [], [COLLECTIONS.sessions]: [] },
        async (_coll, specs) => {
          if ((specs[0] as { name: string }).name === INDEX.keyTokenHash) {
            throw new MongoServerError({
              ok: 0,
              code,
              codeName: "IndexOptionsConflict",
              errmsg: "Index already exists with a different name: tokenHash_1",
            });
          }
        },
      );
      const err = await ensureIndexes(db, { build: async () => buildDb }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(IndexConflictError);
      expect((err as IndexConflictError).index).toBe(INDEX.keyTokenHash);
      expect((err as Error).message).toMatch(
        /keys\.keys_token_hash_unique.*different name: tokenHash_1.*dropIndex.*restart/,
      );
    }
  });
});
