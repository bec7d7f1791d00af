import type { Document } from "mongodb";
import type { MongoWireStub, WireCommand } from "./mongo-wire-stub.js";

/**
 * The `keys` collection's `lastUsedAt` as mongod would keep it under recordKeyUses' bulk updates
 * (`updateOne {q: {_id, $or?}, u: {$max: {lastUsedAt}}}`), answered on the wire stub. It counts the
 * documents actually modified (each one an oplog entry and a change event on a real deployment),
 * and, for comparison under the same load, what `$max` alone (a filter of `_id` only) would modify.
 */
export interface LastUsedModel {
  stored: Map<string, Date | undefined>;
  /** Documents modified with the filter the adapter sent. */
  written: number;
  /** Documents `$max` alone would have modified (its own copy of the values). */
  maxOnlyWritten: number;
  /** Update statements received. */
  statements: number;
}

/** The operators recordKeyUses' filter may use on lastUsedAt; anything else fails loudly. */
function branchMatches(stored: Date | undefined, cond: Document): boolean {
  return Object.entries(cond).every(([field, ops]) => {
    if (field !== "lastUsedAt") throw new Error(`last-used model: field ${field} not modelled`);
    return Object.entries(ops as Document).every(([op, arg]) => {
      if (op === "$lt") return stored !== undefined && stored < arg;
      if (op === "$exists") return (stored !== undefined) === arg;
      throw new Error(`last-used model: operator ${op} not modelled`);
    });
  });
}

function filterMatches(stored: Date | undefined, q: Document): boolean {
  for (const k of Object.keys(q))
    if (k !== "_id" && k !== "$or") throw new Error(`last-used model: filter field ${k} not modelled`);
  return q.$or === undefined || (q.$or as Document[]).some((c) => branchMatches(stored, c));
}

/** Answers `update` commands on `keys` for `ids` (every other command falls through to `fallback`). */
export function modelLastUsed(
  stub: MongoWireStub,
  ids: readonly string[],
  fallback?: (cmd: WireCommand) => Document | undefined,
): LastUsedModel {
  const model: LastUsedModel = {
    stored: new Map(ids.map((id) => [id, undefined])),
    written: 0,
    maxOnlyWritten: 0,
    statements: 0,
  };
  const maxOnly = new Map<string, Date | undefined>(ids.map((id) => [id, undefined]));
  stub.handle = (cmd) => {
    const { name, doc } = cmd;
    if (name !== "update" || doc.update !== "keys") return fallback?.(cmd);
    let n = 0;
    for (const u of doc.updates as { q: Document; u: { $max: { lastUsedAt: Date } } }[]) {
      model.statements++;
      const id = u.q._id as string;
      if (!model.stored.has(id)) continue; // an unknown key matches nothing
      const at = u.u.$max.lastUsedAt;
      const prev = maxOnly.get(id);
      if (!prev || prev < at) {
        maxOnly.set(id, at);
        model.maxOnlyWritten++;
      }
      const cur = model.stored.get(id);
      if (filterMatches(cur, u.q)) {
        n++;
        if (!cur || cur < at) {
          model.stored.set(id, at);
          model.written++;
        }
      }
    }
    return { n, nModified: n, ok: 1 };
  };
  return model;
}
