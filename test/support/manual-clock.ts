import type { Clock } from "../../src/ports/clock.js";

/** A clock tests move by hand: the 72-hour and 1-hour rules without waiting. */
export interface ManualClock extends Clock {
  set(date: Date): void;
  advance(ms: number): void;
}

export function createManualClock(start = new Date("2026-02-22T14:30:00Z")): ManualClock {
  let t = start.getTime();
  return {
    now: () => new Date(t),
    set: (d) => (t = d.getTime()),
    advance: (ms) => (t += ms),
  };
}

export const HOUR = 60 * 60 * 1000;
