// A scripted MongoDB `sessions` collection for wire tests (the real driver talks to
// mongo-wire-stub.ts): `find` and `update` are answered by evaluating the filters received, the way
// mongod would for the operators the session revocations use.
import type { SessionDoc } from "../../src/adapters/mongo/mongo-documents.js";
import { BSON, type Document } from "mongodb";
import type { MongoWireStub, WireCommand } from "./mongo-wire-stub.js";
import { sleep } from "./poll.js";

// The stored shape (a mapped copy: an object type, so it fits the filter evaluator's Record<string, unknown>).
export type Session = { [K in keyof SessionDoc]: SessionDoc[K] };

function matches(doc: Record<string, unknown>, filter: Document): boolean {
  return Object.entries(filter).every(([field, cond]) => {
    const value = doc[field];
    if (cond === null || typeof cond !== "object" || cond instanceof Date) return value === cond;
    return Object.entries(cond as Document).every(([op, arg]) => {
      switch (op) {
        case "$exists":
          return (value !== undefined) === arg;
        case "$gt":
          return value !== undefined && (value as Date) > arg;
        case "$gte":
          return value !== undefined && (value as Date) >= arg;
        case "$lte":
          return value !== undefined && (value as Date) <= arg;
        case "$in":
          return (arg as unknown[]).includes(value);
        default:
          throw new Error(`stub: operator ${op} not modelled`);
      }
    });
  });
}

/** The scripted `sessions` collection; `onUpdate` runs when an update arrives, before it is applied. */
export function sessionsCollection(
  stub: MongoWireStub,
  docs: Session[],
  opts: { updateDelayMs?: number; onUpdate?: () => void } = {},
) {
  const seen: WireCommand[] = [];
  stub.handle = async (cmd) => {
    const { name, doc } = cmd;
    if (name === "find" && doc.find === "sessions") {
      seen.push(cmd);
      let found = docs.filter((d) => matches(d, doc.filter ?? {}));
      if (doc.sort) found = found.sort((a, b) => a.expiresAt.getTime() - b.expiresAt.getTime());
      if (doc.limit) found = found.slice(0, doc.limit);
      const firstBatch = found.map((d) => (doc.projection ? project(d, doc.projection as Document) : d));
      return { cursor: { id: BSON.Long.ZERO, ns: "wf.sessions", firstBatch }, ok: 1 };
    }
    if (name === "update" && doc.update === "sessions") {
      seen.push(cmd);
      opts.onUpdate?.();
      if (opts.updateDelayMs) await sleep(opts.updateDelayMs);
      let n = 0;
      for (const u of doc.updates as { q: Document; u: { $set: Partial<Session> } }[]) {
        for (const d of docs.filter((s) => matches(s, u.q))) {
          Object.assign(d, u.u.$set);
          n++;
        }
      }
      return { n, nModified: n, ok: 1 };
    }
    return undefined;
  };
  return seen;
}

/** The fields of an inclusion projection ({_id: 1, expiresAt: 1, ...}). */
function project(d: Session, projection: Document): Partial<Session> {
  return Object.fromEntries(Object.keys(projection).map((f) => [f, d[f as keyof Session]]));
}
