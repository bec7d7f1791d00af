/**
 * Polling with a deadline (no fixed sleeps): the one copy for tests that wait for a condition.
 * `pollUntil` answers whether the condition held in time (for `expect(...).toBe(true)`);
 * `waitUntil` throws when it did not (for setup steps that must happen).
 */
export async function pollUntil(cond: () => boolean | Promise<boolean>, ms = 5000, everyMs = 10): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await cond()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export async function waitUntil(cond: () => boolean | Promise<boolean>, ms = 5000, what = "condition"): Promise<void> {
  if (!(await pollUntil(cond, ms))) throw new Error(`${what} not reached within ${ms} ms`);
}

/** A pause, for the few tests that must let time pass (prefer `pollUntil` on a condition). */
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** `p`, or a rejection naming `what` when it has not settled within `ms`. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}
