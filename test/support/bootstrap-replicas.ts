// Several service instances running the admin-key bootstrap at once, each on its own store handle
// (the same store object, or one connection per instance): the outcomes and the keys each saved.
import { type BootstrapOutcome, ensureAdminKey } from "../../src/domain/admin-bootstrap.js";
import { createKeyService } from "../../src/domain/key-service.js";
import { createSessionService } from "../../src/domain/session-service.js";
import { createLastUsedRecorder } from "../../src/domain/last-used-recorder.js";
import { createTokenCache } from "../../src/domain/token-cache.js";
import { systemClock } from "../../src/ports/clock.js";
import type { TokenStore } from "../../src/ports/token-store.js";
import { sleep } from "./poll.js";

export async function bootstrapAtOnce(
  stores: readonly TokenStore[],
  options: { pollMs?: number; saveDelayMs?: number } = {},
): Promise<{ outcomes: BootstrapOutcome[]; saved: string[] }> {
  const { pollMs = 20, saveDelayMs = 0 } = options;
  const saved: string[] = [];
  const outcomes = await Promise.all(
    stores.map((store, i) =>
      ensureAdminKey({
        store,
        clock: systemClock,
        keys: createKeyService({
          store,
          clock: systemClock,
          cache: createTokenCache(),
          lastUsed: createLastUsedRecorder(store, { flushIntervalMs: 60_000 }),
          sessions: createSessionService({ store, clock: systemClock, cache: createTokenCache() }),
        }),
        holder: `replica-${i}`,
        pollMs,
        save: async (t) => {
          saved.push(t);
          if (saveDelayMs > 0) await sleep(saveDelayMs); // writing the key file takes a while
        },
      }),
    ),
  );
  return { outcomes, saved };
}
