import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { hostname } from "node:os";
import type { Logger } from "pino";
import { FIXED_LIMITS } from "../config/limits.js";
import { ensureAdminKey, type BootstrapOutcome } from "../domain/admin-bootstrap.js";
import type { AuditTrail } from "../domain/audit-trail.js";
import type { KeyService } from "../domain/key-service.js";
import { ADMIN_TENANT_ID } from "../domain/tenant-id.js";
import type { Clock } from "../ports/clock.js";
import type { TokenStore } from "../ports/token-store.js";
import { removeAdminKeyFile, writeAdminKeyFile } from "./admin-key-file.js";

/** pending: not decided yet; ok: an admin key is stored; missing: none, and this instance could not make one. */
export type AdminKeyState = "pending" | "ok" | "missing";

export interface AdminKeyBootstrap {
  state(): AdminKeyState;
  /** The key this instance minted and wrote to ADMIN_KEY_FILE, if it did (tests read it). */
  minted(): string | undefined;
  stop(): void;
}

/**
 * ADMIN_KEY_FILE at start: when the file exists, it is the operator's admin key (e.g. mounted from
 * a Kubernetes Secret): read, registered by hash, never rewritten. When it does not exist, this
 * instance may mint the first admin key and write it there (mint-and-write, the default on one
 * machine), under the store's bootstrap lease so that at most one instance ever does.
 */
async function readSupplied(path: string): Promise<{ token?: string; mint: boolean; error?: string }> {
  try {
    return { token: (await readFile(path, "utf8")).trim(), mint: false };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return { mint: true };
    return { mint: false, error: `cannot read ADMIN_KEY_FILE ${path} (${code ?? (err as Error).message})` };
  }
}

/**
 * Runs the admin bootstrap in the background (retrying while the store cannot answer) and keeps its
 * state for readiness: `onChange` is called when the state changes. An instance left without an
 * admin key says so in one log line, stays NOT_SERVING, and looks every few seconds for one created
 * elsewhere (another replica, `admin-key create --direct`).
 */
export function startAdminKeyBootstrap(deps: {
  store: TokenStore;
  clock: Clock;
  keys: KeyService;
  audit: AuditTrail;
  logger: Logger;
  adminKeyFile: string;
  onChange: () => void;
  recheckMs?: number;
}): AdminKeyBootstrap {
  const { store, clock, logger, adminKeyFile: path, onChange, recheckMs = FIXED_LIMITS.bootstrapRecheckMs } = deps;
  const holder = `${hostname()}:${process.pid}:${randomBytes(6).toString("hex")}`;
  let state: AdminKeyState = "pending";
  let minted: string | undefined;
  let stopped = false;
  const set = (next: AdminKeyState) => {
    state = next;
    onChange();
  };
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms).unref());

  const report = (outcome: BootstrapOutcome): void => {
    switch (outcome.kind) {
      case "existing":
        if (outcome.warning)
          logger.warn(
            { setting: "ADMIN_KEY_FILE", path, problem: outcome.warning },
            "the supplied admin key is not usable; another admin key is stored",
          );
        return set("ok");
      case "supplied":
        logger.info(
          { setting: "ADMIN_KEY_FILE", path, key_id: outcome.keyId },
          outcome.registered
            ? "registered the supplied admin key (ADMIN_KEY_FILE)"
            : "the supplied admin key (ADMIN_KEY_FILE) is stored",
        );
        return set("ok");
      case "created":
        minted = outcome.issued.token;
        logger.info(
          { path, key_id: outcome.issued.key.id },
          "no admin key existed: created one and wrote it to the admin key file",
        );
        return set("ok");
      case "missing":
        logger.error(
          { setting: "ADMIN_KEY_FILE", path, problem: outcome.reason },
          `no admin key: ${outcome.reason}; NOT_SERVING until one is stored (supply one in ADMIN_KEY_FILE, e.g. a file mounted from a Secret made with "warpflow admin-key generate", or run "warpflow admin-key create --direct")`,
        );
        return set("missing");
    }
  };

  void (async () => {
    const supplied = await readSupplied(path);
    for (
      let delay: number = FIXED_LIMITS.bootstrapRetryFirstMs;
      !stopped;
      delay = Math.min(delay * 2, FIXED_LIMITS.retryBackoffMaxMs)
    ) {
      try {
        if (supplied.error) {
          report(
            (await store.hasUsableKey(ADMIN_TENANT_ID, clock.now()))
              ? { kind: "existing", warning: supplied.error }
              : { kind: "missing", reason: supplied.error },
          );
        } else {
          report(
            await ensureAdminKey({
              ...deps,
              holder,
              supplied: supplied.token,
              save: supplied.mint ? (token) => writeAdminKeyFile(path, token) : undefined,
              discard: () => removeAdminKeyFile(path),
              stopped: () => stopped,
            }),
          );
        }
        break;
      } catch (err) {
        if (stopped) return;
        logger.warn({ err: (err as Error).message }, "admin key bootstrap failed; retrying");
        await sleep(delay);
      }
    }
    // Left without an admin key: look for one made elsewhere.
    while (!stopped && (state as AdminKeyState) === "missing") {
      await sleep(recheckMs);
      if (await store.hasUsableKey(ADMIN_TENANT_ID, clock.now()).catch(() => false)) {
        logger.info("an admin key is now stored");
        set("ok");
      }
    }
  })();

  return {
    state: () => state,
    minted: () => minted,
    stop() {
      stopped = true;
    },
  };
}
