// Refused admin calls cannot grow the audit trail without bound, nor push other events out of a
// capped one. Each refusal belongs to an OWNER: the caller's address when it had no valid credential
// (none, malformed or unknown), else the authenticated actor (a real key, session or JWT without
// permission). Per (owner, action, code, tenant) and time window, the first refusals are stored as
// their own events at once (1 for an address, `authenticatedBurst` for an actor, so a real caller's
// refusal is always listed by itself), the rest are only counted; when the window closes, one event
// with `count` and `firstTime` stands for them.
//
// Three levels keep the number of windows bounded whatever the caller varies:
// - fine: (owner, action, code, tenant), at most `maxWindowsPerOwner` per owner;
// - per owner: past that, (owner, action, code) on the admin trail, still naming the owner (so one
//   address or key naming thousands of tenants cannot take every window and hide the others);
// - global: past `maxWindows` open windows in all, (authenticated?, action, code) on the admin trail;
//   the first refusal of such a window is still stored with its own address.
// So a flood costs at most 2 (an actor: burst + 1) stored events per window, whatever its rate.
import type { Clock } from "../ports/clock.js";
import type { AuditActor, AuditCompletion } from "./audit.js";
import type { AuditDraft, AuditTrail } from "./audit-trail.js";
import { ADMIN_TENANT_ID } from "./tenant-id.js";
import { addressGroupOf } from "./address-group.js";

export interface RefusalWindows {
  /** Records (the first of its window) or counts one refusal. Never throws. */
  refused(draft: AuditDraft, completion: AuditCompletion): Promise<void>;
  openWindows(): number;
  /** Records every open window's count now and stops the timer (shutdown). */
  close(): Promise<void>;
}

/** What happened to one refusal: stored as an event, counted in a window, counted in a global overflow window. */
export type RefusalFate = "recorded" | "counted" | "overflow";

interface Window {
  draft: AuditDraft;
  completion: AuditCompletion;
  opened: number;
  /** Refusals still to be stored one by one in this window. */
  individual: number;
  first?: Date;
  last?: Date;
  count: number;
  global: boolean;
}

const hostOf = (peer: string | undefined): string => (peer ? peer.replace(/:\d+$/, "") : "unknown");
/** The client an address owner counts: the group every per-address bound uses (address-group.ts). */
const clientOf = (host: string): string => addressGroupOf(host.replace(/^\[(.*)\]$/, "$1")) ?? host;
const NO_ACTOR: AuditActor = { kind: "none", id: "", tenantId: "" };

export function createRefusalWindows(deps: {
  audit: AuditTrail;
  clock: Clock;
  windowMs: number;
  maxWindows: number;
  /** Fine windows one owner may hold before its refusals are counted across tenants (default 20). */
  maxWindowsPerOwner?: number | undefined;
  /** Refusals of an authenticated caller stored one by one per window before counting (default 10). */
  authenticatedBurst?: number | undefined;
  observe?: ((fate: RefusalFate, authenticated: boolean) => void) | undefined;
}): RefusalWindows {
  const { audit, clock, windowMs, maxWindows, observe = () => undefined } = deps;
  const perOwner = deps.maxWindowsPerOwner ?? 20;
  const burst = deps.authenticatedBurst ?? 10;
  const windows = new Map<string, Window>();
  /** Fine windows open per owner. */
  const owned = new Map<string, number>();

  async function closeWindow(w: Window): Promise<void> {
    if (w.count === 0) return;
    const from = w.global
      ? "callers beyond the tracked ones"
      : w.draft.actor.kind !== "none"
        ? `${w.draft.actor.kind} ${w.draft.actor.id}`
        : (w.draft.peer ?? "unknown");
    const detail = `${w.count} more refused calls like this (${w.completion.detail ?? w.completion.code}) from ${from}, ${w.first!.toISOString()} to ${w.last!.toISOString()}: counted, not stored one by one`;
    await audit
      .record({ ...w.draft, time: w.last, count: w.count, firstTime: w.first }, { ...w.completion, detail })
      .catch(() => undefined); // the store is down: the log line (sink) still carries the count
  }

  function remove(key: string, w: Window, owner: string | undefined): void {
    windows.delete(key);
    if (owner !== undefined) {
      const n = (owned.get(owner) ?? 1) - 1;
      if (n <= 0) owned.delete(owner);
      else owned.set(owner, n);
    }
    void closeWindow(w);
  }

  /** Closes the windows whose time is up (all of them with `all`). */
  async function sweep(all = false): Promise<void> {
    const now = clock.now().getTime();
    const due: Promise<void>[] = [];
    for (const [key, w] of windows) {
      if (!all && now - w.opened < windowMs) continue;
      windows.delete(key);
      due.push(closeWindow(w));
    }
    if (all) owned.clear();
    else recount();
    await Promise.all(due);
  }
  function recount(): void {
    owned.clear();
    for (const [key, w] of windows)
      if (!w.global && key.startsWith("f\n")) owned.set(ownerOf(w.draft), (owned.get(ownerOf(w.draft)) ?? 0) + 1);
  }
  const timer = setInterval(() => void sweep(), Math.max(50, Math.min(windowMs / 4, 5000)));
  timer.unref();

  const ownerOf = (d: AuditDraft) =>
    d.actor.kind === "none" ? `addr ${clientOf(hostOf(d.peer))}` : `actor ${d.actor.kind}:${d.actor.id}`;

  /** The window this refusal goes to: an open one, or a new one at the first level that has room. */
  function place(
    draft: AuditDraft,
    completion: AuditCompletion,
    now: number,
  ): { key: string; w: Window; fresh: boolean } {
    const owner = ownerOf(draft);
    const authenticated = draft.actor.kind !== "none";
    const host = hostOf(draft.peer);
    const fineKey = `f\n${owner}\n${draft.action}\n${completion.code}\n${draft.tenantId}`;
    const ownerKey = `o\n${owner}\n${draft.action}\n${completion.code}`;
    const globalKey = `g\n${authenticated}\n${draft.action}\n${completion.code}`;
    for (const key of [fineKey, ownerKey, globalKey]) {
      const w = windows.get(key);
      if (!w) continue;
      if (now - w.opened < windowMs) return { key, w, fresh: false };
      remove(key, w, key === fineKey ? owner : undefined);
    }
    const individual = authenticated ? burst : 1;
    const make = (d: AuditDraft, global = false): Window => ({
      draft: d,
      completion,
      opened: now,
      individual,
      count: 0,
      global,
    });
    let key: string;
    let w: Window;
    if (windows.size >= maxWindows) {
      key = globalKey;
      w = make({ action: draft.action, actor: NO_ACTOR, tenantId: ADMIN_TENANT_ID, protocol: draft.protocol }, true);
    } else if ((owned.get(owner) ?? 0) >= perOwner) {
      key = ownerKey;
      w = make({ ...draft, peer: host, tenantId: ADMIN_TENANT_ID, keyId: undefined, sessionId: undefined });
    } else {
      key = fineKey;
      w = make({ ...draft, peer: host });
      owned.set(owner, (owned.get(owner) ?? 0) + 1);
    }
    windows.set(key, w);
    return { key, w, fresh: true };
  }

  return {
    async refused(draft, completion) {
      const now = clock.now();
      const { w } = place(draft, completion, now.getTime());
      const authenticated = draft.actor.kind !== "none";
      if (w.individual > 0) {
        w.individual--;
        observe(w.global ? "overflow" : "recorded", authenticated);
        await audit.record(draft, completion).catch(() => undefined); // still refused if not stored
        return;
      }
      w.count++;
      w.first ??= now;
      w.last = now;
      observe(w.global ? "overflow" : "counted", authenticated);
    },
    openWindows: () => windows.size,
    async close() {
      clearInterval(timer);
      await sweep(true);
    },
  };
}
