import type { Clock } from "../ports/clock.js";
import type { TokenStore } from "../ports/token-store.js";
import type { KeyRecord } from "./records.js";
import { completeAfter, type AuditTrail } from "./audit-trail.js";
import { DomainError } from "./errors.js";
import type { IssuedKey, KeyService } from "./key-service.js";
import { ADMIN_TENANT_ID } from "./tenant-id.js";
import { generateToken, parseToken } from "./token-format.js";
import { hashToken } from "./token-hash.js";

/** The lease that makes one instance at a time the one that may store a first admin key. */
export const BOOTSTRAP_LEASE = "admin-bootstrap";

export type BootstrapOutcome =
  /** A usable admin key was already stored (`warning`: the supplied key could not be used). */
  | { kind: "existing"; warning?: string }
  /** The operator's key (`supplied`) is stored: registered now (`registered`) or earlier. */
  | { kind: "supplied"; keyId: string; registered: boolean }
  /** No usable admin key existed: this instance minted one, saved it, then stored it. */
  | { kind: "created"; issued: IssuedKey }
  /** An admin key was needed and could neither be registered nor created (`reason` says why). */
  | { kind: "missing"; reason: string };

export interface BootstrapDeps {
  store: TokenStore;
  clock: Clock;
  keys: KeyService;
  audit?: AuditTrail | undefined;
  /** This instance's name in the lease (unique per process). */
  holder: string;
  /** The operator's admin key (plaintext, e.g. from a file mounted from a Secret): registered, never minted. */
  supplied?: string | undefined;
  /** Mint-and-write: saves a minted key (the admin key file). Absent: never mint. */
  save?: ((token: string) => Promise<void>) | undefined;
  /** Undoes `save` when the saved key was certainly not stored. */
  discard?: ((token: string) => Promise<void>) | undefined;
  leaseMs?: number;
  pollMs?: number;
  retryDelayMs?: number;
  stopped?: () => boolean;
}

/** `save` failed: nothing was stored (the key file is written before the key is stored). */
class SaveFailed extends Error {}

const usable = (k: KeyRecord, now: Date) => k.status === "active" || (k.status === "deprecated" && k.revokeAt! > now);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms).unref());

/**
 * The first admin key, decided once across every instance on the store. Whatever is stored happens
 * under the store's lease BOOTSTRAP_LEASE (one atomic claim, never check-then-act): the holder
 * looks again and then registers the supplied key or mints one; every other instance waits (polls)
 * until the holder is done, sees the outcome, and never saves a key. A holder that dies loses the
 * lease after `leaseMs`. Store failures are thrown (the caller retries).
 */
export async function ensureAdminKey(deps: BootstrapDeps): Promise<BootstrapOutcome> {
  const { store, clock, holder, supplied, pollMs = 500, leaseMs = 60_000, stopped = () => false } = deps;
  if (supplied !== undefined) {
    const parsed = parseToken(supplied);
    if (!parsed || parsed.kind !== "api_key" || parsed.tenantId !== ADMIN_TENANT_ID) {
      return unusable(
        deps,
        "the supplied admin key is not a well-formed admin key (make one with: warpflow admin-key generate)",
      );
    }
  }
  const hash = supplied === undefined ? undefined : hashToken(supplied);
  for (;;) {
    if (stopped()) throw new DomainError("unavailable", "stopped before the admin key bootstrap finished");
    if (hash !== undefined) {
      const found = await store.findKeyByHash(hash);
      if (found && usable(found, clock.now())) return { kind: "supplied", keyId: found.id, registered: false };
    } else if (await store.hasUsableKey(ADMIN_TENANT_ID, clock.now())) {
      return { kind: "existing" };
    }
    const now = clock.now();
    const lease = { name: BOOTSTRAP_LEASE, holder };
    if (!(await store.claimLease({ ...lease, now, until: new Date(now.getTime() + leaseMs) }))) {
      await sleep(pollMs); // another instance is at it: wait for its outcome
      continue;
    }
    try {
      return await underLease(deps, hash);
    } finally {
      await store.releaseLease(lease).catch(() => undefined); // else it expires after leaseMs
    }
  }
}

async function underLease(deps: BootstrapDeps, hash: string | undefined): Promise<BootstrapOutcome> {
  const { store, clock, audit, supplied, save } = deps;
  if (supplied !== undefined && hash !== undefined) {
    const found = await store.findKeyByHash(hash);
    if (found) {
      if (usable(found, clock.now())) return { kind: "supplied", keyId: found.id, registered: false };
      return unusable(deps, `the supplied admin key (${found.id}) is ${found.status}`);
    }
    const pending = await audit?.begin({
      action: "admin_key.create",
      actor: { kind: "service", id: "bootstrap", tenantId: ADMIN_TENANT_ID },
      tenantId: ADMIN_TENANT_ID,
      detail: "registered the operator-supplied admin key",
    });
    try {
      const issued = await completeAfter(
        pending,
        () => createSaved(deps, supplied, false),
        (i) => ({ keyId: i.key.id }),
      );
      return { kind: "supplied", keyId: issued.key.id, registered: true };
    } catch (err) {
      if (err instanceof DomainError && err.code === "resource_exhausted")
        return unusable(deps, `the supplied admin key cannot be registered: ${err.message}`);
      throw err;
    }
  }
  if (await store.hasUsableKey(ADMIN_TENANT_ID, clock.now())) return { kind: "existing" };
  if (!save) return { kind: "missing", reason: "no usable admin key is stored and none was supplied" };
  const pending = await audit?.begin({
    action: "admin_key.create",
    actor: { kind: "service", id: "bootstrap", tenantId: ADMIN_TENANT_ID },
    tenantId: ADMIN_TENANT_ID,
    detail: "bootstrap admin key (no usable admin key existed)",
  });
  try {
    const token = generateToken("api_key", ADMIN_TENANT_ID);
    const issued = await completeAfter(
      pending,
      () => createSaved(deps, token, true),
      (i) => ({ keyId: i.key.id }),
    );
    return { kind: "created", issued };
  } catch (err) {
    if (err instanceof SaveFailed) return { kind: "missing", reason: err.message };
    throw err;
  }
}

/** A usable admin key may exist anyway (then the instance can serve, with a warning). */
async function unusable(deps: BootstrapDeps, reason: string): Promise<BootstrapOutcome> {
  if (await deps.store.hasUsableKey(ADMIN_TENANT_ID, deps.clock.now())) return { kind: "existing", warning: reason };
  return { kind: "missing", reason };
}

/**
 * Stores `token` as an admin key (saved first when `mint`: never a stored admin key that nobody
 * holds). A write whose outcome is unknown is looked up by hash and retried until the store says
 * which, renewing the lease before each retry; a definite failure discards the saved key.
 */
async function createSaved(deps: BootstrapDeps, token: string, mint: boolean): Promise<IssuedKey> {
  const {
    store,
    clock,
    keys,
    holder,
    save,
    discard,
    retryDelayMs = 500,
    leaseMs = 60_000,
    stopped = () => false,
  } = deps;
  if (mint) {
    try {
      await save!(token);
    } catch (err) {
      throw new SaveFailed(`cannot write the admin key file: ${(err as Error).message}`);
    }
  }
  const label = mint ? "bootstrap admin key" : "operator-supplied admin key";
  const giveUp = async (err: unknown): Promise<never> => {
    if (mint) await discard?.(token).catch(() => undefined);
    throw err;
  };
  for (;;) {
    try {
      return await keys.create(ADMIN_TENANT_ID, label, "bootstrap", { token });
    } catch (err) {
      // Unknown outcome (UNAVAILABLE), or a retry that hit our own landed write (duplicate hash):
      // ask the store whether the key is there.
      if (err instanceof DomainError && err.code !== "unavailable") {
        const landed = await store.findKeyByHash(hashToken(token)).catch(() => null);
        if (landed && !mint) return { token, key: landed }; // another instance registered it
        return giveUp(err);
      }
      let ours: boolean | undefined;
      while (ours === undefined) {
        if (stopped()) throw err;
        await sleep(retryDelayMs);
        try {
          const landed = await store.findKeyByHash(hashToken(token));
          if (landed) return { token, key: landed };
          const now = clock.now();
          ours = await store.claimLease({
            name: BOOTSTRAP_LEASE,
            holder,
            now,
            until: new Date(now.getTime() + leaseMs),
          });
        } catch {
          // the store still cannot answer: ask again
        }
      }
      // Not there: insert again, unless the lease ran out and another instance took over.
      if (!ours)
        return giveUp(
          new DomainError("unavailable", "lost the admin bootstrap lease while the store could not answer"),
        );
    }
  }
}
