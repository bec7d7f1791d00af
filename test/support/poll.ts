/**
 * Waiting in tests, the one copy: poll a condition with a deadline (no fixed sleeps).
 * `pollUntil` answers whether the condition held in time (for `expect(...).toBe(true)`, or to wait
 * and then assert); `waitUntil` throws when it did not (for setup steps that must happen) and
 * answers how long it took; `pollValue` keeps reading until a value is good; `turnsUntil` waits on
 * event-loop turns, for tests whose timers are fake; `sleep` and `within` for the rest.
 */
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function pollUntil(cond: () => boolean | Promise<boolean>, ms = 5000, everyMs = 10): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await cond()) return true;
    if (Date.now() > deadline) return false;
    await sleep(everyMs);
  }
}

/** Resolves with the milliseconds it took; throws "`what` not reached within `ms` ms" otherwise. */
export async function waitUntil(
  cond: () => boolean | Promise<boolean>,
  ms = 5000,
  what = "condition",
  everyMs = 10,
): Promise<number> {
  const start = Date.now();
  if (!(await pollUntil(cond, ms, everyMs))) throw new Error(`${what} not reached within ${ms} ms`);
  return Date.now() - start;
}

/** Reads until `ok(value)` or the deadline; resolves with the last value read (assert on it). */
export async function pollValue<T>(read: () => Promise<T>, ok: (v: T) => boolean, ms = 3000, everyMs = 20): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (ok(v) || Date.now() > deadline) return v;
    await sleep(everyMs);
  }
}

/** Turns of the event loop (not timers, which may be fake) until `cond` holds; throws after `maxTurns`. */
export async function turnsUntil(cond: () => boolean, maxTurns = 200_000): Promise<void> {
  for (let i = 0; !cond(); i++) {
    if (i > maxTurns) throw new Error(`condition not reached within ${maxTurns} event-loop turns`);
    await new Promise((r) => setImmediate(r));
  }
}

/** `p`, or a rejection naming `what` when it has not settled within `ms`. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}
