// Refusals of callers with no valid credential (none, malformed or unknown) cannot grow the audit
// trail without bound: per (address, action, code, tenant) and time window, the FIRST refusal is
// recorded as its own event at once, the rest are only counted; when the window closes, one event
// with `count` and `firstTime` stands for them. At most `maxWindows` windows are open: past that,
// refusals are counted per (action, code) in overflow windows with no address (a bounded set).
// So a flood of refused calls costs at most 2 stored events per window and key, whatever its rate.
// Refusals of authenticated callers (a real credential without permission) are not handled here:
// they stay individual events.
import type { Clock } from "../ports/clock.js";
import type { AuditCompletion } from "./audit.js";
import type { AuditDraft, AuditTrail } from "./audit-trail.js";
import { ADMIN_TENANT_ID } from "./tenant-id.js";

export interface RefusalWindows {
  /** Records (the first of its window) or counts one unauthenticated refusal. Never throws. */
  refused(draft: AuditDraft, completion: AuditCompletion): Promise<void>;
  openWindows(): number;
  /** Records every open window's count now and stops the timer (shutdown). */
  close(): Promise<void>;
}

/** What happened to one refusal: stored as an event, counted in a window, counted in an overflow window. */
export type RefusalFate = "recorded" | "counted" | "overflow";

interface Window {
  draft: AuditDraft;
  completion: AuditCompletion;
  opened: number;
  first?: Date;
  last?: Date;
  count: number;
}

const hostOf = (peer: string | undefined): string => (peer ? peer.replace(/:\d+$/, "") : "unknown");

export function createRefusalWindows(deps: {
  audit: AuditTrail;
  clock: Clock;
  windowMs: number;
  maxWindows: number;
  observe?: ((fate: RefusalFate) => void) | undefined;
}): RefusalWindows {
  const { audit, clock, windowMs, maxWindows, observe = () => undefined } = deps;
  const windows = new Map<string, Window>();
  const overflow = new Map<string, Window>();

  async function closeWindow(w: Window): Promise<void> {
    if (w.count === 0) return;
    const host = w.draft.peer ?? "addresses beyond the tracked ones";
    const detail = `${w.count} more refused calls like this (${w.completion.detail ?? w.completion.code}) from ${host}, ${w.first!.toISOString()} to ${w.last!.toISOString()}: counted, not stored one by one`;
    await audit
      .record({ ...w.draft, time: w.last, count: w.count, firstTime: w.first }, { ...w.completion, detail })
      .catch(() => undefined); // the store is down: the log line (sink) still carries the count
  }

  /** Closes the windows whose time is up (all of them with `all`). */
  async function sweep(all = false): Promise<void> {
    const now = clock.now().getTime();
    const due: Window[] = [];
    for (const map of [windows, overflow]) {
      for (const [key, w] of map) {
        if (all || now - w.opened >= windowMs) {
          map.delete(key);
          due.push(w);
        }
      }
    }
    await Promise.all(due.map(closeWindow));
  }
  const timer = setInterval(() => void sweep(), Math.max(50, Math.min(windowMs / 4, 5000)));
  timer.unref();

  return {
    async refused(draft, completion) {
      const host = hostOf(draft.peer);
      const key = `${host}\n${draft.action}\n${completion.code}\n${draft.tenantId}`;
      const now = clock.now();
      const open = windows.get(key);
      if (open && now.getTime() - open.opened < windowMs) {
        open.count++;
        open.first ??= now;
        open.last = now;
        observe("counted");
        return;
      }
      if (open) {
        windows.delete(key);
        void closeWindow(open);
      }
      if (windows.size >= maxWindows) {
        const okey = `${draft.action}\n${completion.code}`;
        let w = overflow.get(okey);
        if (!w) {
          const { peer: _p, userAgent: _u, ...rest } = draft;
          overflow.set(okey, (w = { draft: { ...rest, tenantId: ADMIN_TENANT_ID }, completion, opened: now.getTime(), count: 0 }));
        }
        w.count++;
        w.first ??= now;
        w.last = now;
        observe("overflow");
        return;
      }
      windows.set(key, { draft: { ...draft, peer: host }, completion, opened: now.getTime(), count: 0 });
      observe("recorded");
      await audit.record(draft, completion).catch(() => undefined); // still refused if not stored
    },
    openWindows: () => windows.size + overflow.size,
    async close() {
      clearInterval(timer);
      await sweep(true);
    },
  };
}
