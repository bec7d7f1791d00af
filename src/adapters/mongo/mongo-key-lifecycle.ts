// Issue 22 on MongoDB: suspend and resume (one conditional findOneAndUpdate each), the expiry
// sweep's query (index keys_status_expires_at), and a partial tenant policy write (one upsert).
import type { Collection } from "mongodb";
import type { TenantPolicyRecord } from "../../domain/records.js";
import type { PolicyField, TokenStore } from "../../ports/token-store.js";
import { fromKeyDoc, fromPolicyDoc, type KeyDoc, type PolicyDoc, SCHEMA_VERSION } from "./mongo-documents.js";
import { isDuplicateKey } from "./mongo-errors.js";

type Run = <T>(operation: string, fn: () => Promise<T>) => Promise<T>;

export function createMongoKeyLifecycle(
  keys: () => Promise<Collection<KeyDoc>>,
  policies: () => Promise<Collection<PolicyDoc>>,
  timeouts: { maxTimeMS: number; maintenanceMaxTimeMS: number },
  run: Run,
): Pick<TokenStore, "suspendKey" | "resumeKey" | "findKeysPastExpiry" | "retirePredecessor"> & {
  setPolicyFields(policy: TenantPolicyRecord, fields: readonly PolicyField[]): Promise<TenantPolicyRecord>;
} {
  const { maxTimeMS, maintenanceMaxTimeMS } = timeouts;

  /** The key after a conditional update, or as it is when the condition did not hold (null: no such key). */
  async function updateKey(filter: object, update: object, tenantId: string, keyId: string) {
    const coll = await keys();
    const after = await coll.findOneAndUpdate({ _id: keyId, tenantId, ...filter }, update, {
      returnDocument: "after",
      maxTimeMS,
    });
    if (after) return fromKeyDoc(after);
    const current = await coll.findOne({ _id: keyId, tenantId }, { maxTimeMS });
    return current ? fromKeyDoc(current) : null;
  }

  return {
    suspendKey: ({ tenantId, keyId, suspendedAt, suspendedBy, byPlatform }) =>
      run("suspendKey", () =>
        // Only an ACTIVE key (never a REVOKED one, nor one a racing rotation has just deprecated),
        // never a second time (the first suspension's time and actor stay), except that the
        // platform admin's takes over a suspension that is not already the platform's.
        byPlatform
          ? updateKey(
              { status: "active", suspendedByPlatform: { $exists: false } },
              { $set: { suspendedAt, suspendedBy, suspendedByPlatform: true } },
              tenantId,
              keyId,
            )
          : updateKey(
              { status: "active", suspendedAt: { $exists: false } },
              { $set: { suspendedAt, suspendedBy } },
              tenantId,
              keyId,
            ),
      ),

    resumeKey: ({ tenantId, keyId, byPlatform }) =>
      run("resumeKey", () =>
        updateKey(
          {
            status: { $ne: "revoked" },
            suspendedAt: { $exists: true },
            // The platform admin's suspension is lifted by a platform admin only.
            ...(byPlatform ? {} : { suspendedByPlatform: { $exists: false } }),
          },
          { $unset: { suspendedAt: "", suspendedBy: "", suspendedByPlatform: "" } },
          tenantId,
          keyId,
        ),
      ),

    retirePredecessor: ({ tenantId, successorId, predecessorId, at, revokedBy }) =>
      run("retirePredecessor", async () => {
        const coll = await keys();
        // One conditional write: only the DEPRECATED key of this rotation, still in its grace.
        const r = await coll.updateOne(
          { _id: predecessorId, tenantId, status: "deprecated", rotatedToKeyId: successorId, revokeAt: { $gt: at } },
          { $set: { status: "revoked", revokedAt: at, revokedBy }, $unset: { slot: "", graceSlot: "" } },
          { maxTimeMS },
        );
        await coll.updateOne({ _id: successorId, tenantId }, { $unset: { retireOnFirstUse: "" } }, { maxTimeMS });
        return r.modifiedCount === 1;
      }),

    findKeysPastExpiry: (now, limit) =>
      run("findKeysPastExpiry", async () => {
        if (limit <= 0) return [];
        const docs = await (await keys())
          .find(
            { status: { $in: ["active", "deprecated"] }, expiresAt: { $lte: now } },
            { sort: { expiresAt: 1 }, limit, maxTimeMS: maintenanceMaxTimeMS },
          )
          .toArray();
        return docs.map(fromKeyDoc);
      }),

    setPolicyFields: (policy, fields) =>
      run("setPolicy", async () => {
        const coll = await policies();
        const set: Record<string, unknown> = { v: SCHEMA_VERSION };
        const unset: Record<string, ""> = {};
        if (policy.updatedAt) set["updatedAt"] = policy.updatedAt;
        if (policy.updatedBy) set["updatedBy"] = policy.updatedBy;
        if (fields.includes("hipaaEnabled")) set["hipaaEnabled"] = policy.hipaaEnabled;
        if (fields.includes("maxKeyLifetimeMs")) {
          if (policy.maxKeyLifetimeMs === undefined) unset["maxKeyLifetimeMs"] = "";
          else set["maxKeyLifetimeMs"] = policy.maxKeyLifetimeMs;
        }
        const update: Record<string, object> = { $set: set };
        if (Object.keys(unset).length > 0) update["$unset"] = unset;
        // A first write of the tenant starts from the default policy (HIPAA off).
        if (!fields.includes("hipaaEnabled")) update["$setOnInsert"] = { hipaaEnabled: false };
        const write = () =>
          coll.findOneAndUpdate({ _id: policy.tenantId }, update, { upsert: true, returnDocument: "after", maxTimeMS });
        let doc: PolicyDoc | null;
        try {
          doc = await write();
        } catch (err) {
          // Two concurrent first upserts of one tenant: once more is enough (see setPolicy).
          if (!isDuplicateKey(err)) throw err;
          doc = await write();
        }
        return fromPolicyDoc(doc!);
      }),
  };
}
