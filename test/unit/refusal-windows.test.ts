import { afterEach, describe, expect, it } from "vitest";
import { createMemoryAuditEvents } from "../../src/adapters/memory/memory-audit-events.js";
import { createMemoryTokenStore } from "../../src/adapters/memory/memory-token-store.js";
import { newAuditEventId, type AuditCompletion, type AuditEvent } from "../../src/domain/audit.js";
import { createAuditTrail, type AuditDraft } from "../../src/domain/audit-trail.js";
import { createRefusalWindows, type RefusalFate, type RefusalWindows } from "../../src/domain/refusal-windows.js";
import { createManualClock } from "../support/manual-clock.js";
import { sleep } from "../support/poll.js";

/** Counting unauthenticated refusals per window, and the embedded store's cap (the real trail and store). */
const refusal: AuditCompletion = { outcome: "failed", code: "UNAUTHENTICATED", detail: "missing bearer credential" };
const draft = (peer: string, tenantId = "acme"): AuditDraft => ({
  action: "key.create",
  actor: { kind: "none", id: "", tenantId: "" },
  tenantId,
  peer,
  protocol: "grpc",
});

let open: RefusalWindows | undefined;
afterEach(async () => {
  await open?.close();
  open = undefined;
});

function setup(maxWindows = 10) {
  const clock = createManualClock();
  const store = createMemoryTokenStore();
  const audit = createAuditTrail({ store, clock });
  const fates: RefusalFate[] = [];
  open = createRefusalWindows({ audit, clock, windowMs: 60_000, maxWindows, observe: (f) => fates.push(f) });
  const list = (tenantId = "acme") => store.listAuditEvents({ tenantId, limit: 1000 });
  return { clock, windows: open, fates, list };
}

describe("refusal windows", () => {
  it("the first refusal of a window is stored at once, the rest become one event with count and first_time", async () => {
    const { clock, windows, fates, list } = setup();
    for (let i = 0; i < 1000; i++) {
      await windows.refused(draft(`10.0.0.7:${40_000 + (i % 50)}`), refusal); // many ports, one address
      clock.advance(10);
    }
    expect(await list()).toHaveLength(1); // only the first, while the window is open
    expect(fates.filter((f) => f === "recorded")).toHaveLength(1);
    clock.advance(60_000);
    await windows.refused(draft("10.0.0.7:1"), refusal); // a new window: its first is stored, the old one closes
    await sleep(10);
    const events = await list();
    expect(events).toHaveLength(3);
    const counted = events.find((e) => (e.count ?? 0) > 1)!;
    expect(counted).toMatchObject({
      count: 999,
      peer: "10.0.0.7",
      outcome: "failed",
      code: "UNAUTHENTICATED",
      tenantId: "acme",
    });
    expect(counted.firstTime!.getTime()).toBe(new Date("2026-02-22T14:30:00.010Z").getTime());
    expect(counted.time.getTime()).toBe(new Date("2026-02-22T14:30:09.990Z").getTime());
    expect(counted.detail).toMatch(/^999 more refused calls like this \(missing bearer credential\) from 10\.0\.0\.7/);
  });

  it("at most maxWindows windows: further addresses are counted per action in an overflow window on the admin trail", async () => {
    const { windows, fates, list } = setup(3);
    for (let a = 0; a < 100; a++) await windows.refused(draft(`10.0.${a}.1:5000`), refusal);
    expect(windows.openWindows()).toBe(4); // 3 addresses + 1 overflow (key.create, UNAUTHENTICATED)
    expect(fates.filter((f) => f === "overflow")).toHaveLength(97);
    // The 3 addresses' first refusals, and the overflow window's first, each with its own address.
    const stored = await list();
    expect(stored.map((e) => e.peer)).toEqual(["10.0.3.1:5000", "10.0.2.1:5000", "10.0.1.1:5000", "10.0.0.1:5000"]);
    await windows.close();
    const overflow = (await list("admin")).filter((e) => e.count === 96);
    expect(overflow).toHaveLength(1);
    expect(overflow[0]!.peer).toBeUndefined();
    expect(windows.openWindows()).toBe(0);
  });

  it("one address naming thousands of tenants cannot take every window: past its share it is counted across tenants, and another address still gets its own event", async () => {
    const { windows, fates, list } = setup(200);
    for (let t = 0; t < 5000; t++) await windows.refused(draft("10.0.0.66:1", `t${t}`), refusal);
    expect(windows.openWindows()).toBe(21); // 20 tenants of its own + 1 across tenants, naming the address
    expect(fates.filter((f) => f === "recorded")).toHaveLength(21);
    expect(fates.filter((f) => f === "overflow")).toHaveLength(0);
    await windows.refused({ ...draft("10.0.0.9:4444"), action: "key.revoke" }, refusal); // the stranger to see
    const acme = await list("acme");
    expect(acme).toHaveLength(1);
    expect(acme[0]).toMatchObject({ action: "key.revoke", peer: "10.0.0.9:4444" });
    await windows.close();
    const across = (await list("admin")).filter((e) => e.count === 4979);
    expect(across).toHaveLength(1);
    expect(across[0]!.peer).toBe("10.0.0.66");
    expect(across[0]!.detail).toContain("from 10.0.0.66");
  });

  it("an IPv6 host is one address by its /64 (attack finding: a new address per call took every window)", async () => {
    const { windows, fates, list } = setup(200);
    for (let t = 0; t < 5000; t++)
      await windows.refused(draft(`[2001:db8:1:2::${t.toString(16)}]:1`, `t${t}`), refusal);
    expect(windows.openWindows()).toBe(21); // as one IPv4 address: 20 tenants + 1 across tenants
    expect(fates.filter((f) => f === "overflow")).toHaveLength(0);
    await windows.refused({ ...draft("10.0.0.9:4444"), action: "key.revoke" }, refusal);
    expect(await list("acme")).toEqual([expect.objectContaining({ action: "key.revoke", peer: "10.0.0.9:4444" })]);
  });

  it("IPv4 clients behind NAT64 (64:ff9b::/96) are each their own address, as the transport's bounds count them", async () => {
    const { windows, fates } = setup(200);
    // Two IPv4 clients of one NAT64 front share a /64: grouped by /64 they were one owner and the
    // second one's refusals were counted across tenants under the first one's share.
    for (const host of ["64:ff9b::cb00:7107", "64:ff9b::c633:6407"])
      for (let t = 0; t < 15; t++) await windows.refused(draft(`[${host}]:1`, `t${t}`), refusal);
    expect(windows.openWindows()).toBe(30);
    expect(fates.filter((f) => f === "recorded")).toHaveLength(30);
    // An IPv4-mapped address written in hex is the IPv4 client itself: it shares 203.0.113.7's windows.
    await windows.refused(draft("[::ffff:cb00:7107]:2", "t0"), refusal);
    expect(windows.openWindows()).toBe(30);
  });

  it("an authenticated caller without permission: its first refusals are events of their own, a flood is counted under its name and evicts nothing", async () => {
    const { clock, windows, list } = setup(200);
    const denied: AuditCompletion = {
      outcome: "failed",
      code: "PERMISSION_DENIED",
      detail: "this credential may not act on tenant globex",
    };
    const asAcme = (tenantId: string): AuditDraft => ({
      ...draft("10.0.0.5:7", tenantId),
      action: "keys.list",
      actor: { kind: "api_key", id: "key_acme1", tenantId: "acme" },
    });
    for (let i = 0; i < 3; i++) await windows.refused(asAcme("globex"), denied);
    expect(await list("globex")).toHaveLength(3); // a real caller's few refusals stay individual
    for (let i = 0; i < 20_000; i++) {
      await windows.refused(asAcme(i % 2 ? "globex" : `t${i % 400}`), denied);
      clock.advance(1);
    }
    const open = windows.openWindows();
    expect(open).toBeLessThanOrEqual(21);
    await windows.close();
    const globex = await list("globex");
    expect(globex.filter((e) => e.count === undefined)).toHaveLength(10); // the burst
    expect(globex.reduce((n, e) => n + (e.count ?? 1), 0)).toBe(10_003);
    let stored = 0;
    for (let t = 0; t < 400; t++) stored += (await list(`t${t}`)).length;
    stored += (await list("admin")).length;
    expect(stored + globex.length).toBeLessThanOrEqual(21 * 11); // bounded, whatever the rate
    const admin = await list("admin");
    expect(admin.some((e) => e.actor.id === "key_acme1" && (e.count ?? 0) > 1000)).toBe(true);
  });

  it("tenants and codes are separate windows; close() stores every open count", async () => {
    const { windows, list } = setup();
    for (let i = 0; i < 5; i++) {
      await windows.refused(draft("10.0.0.8:1", "acme"), refusal);
      await windows.refused(draft("10.0.0.8:1", "globex"), refusal);
      await windows.refused(draft("10.0.0.8:1", "acme"), { ...refusal, code: "UNAVAILABLE" });
    }
    await windows.close();
    const acme = await list("acme");
    expect(acme.map((e) => [e.code, e.count ?? 1]).sort()).toEqual(
      [
        ["UNAUTHENTICATED", 1],
        ["UNAUTHENTICATED", 4],
        ["UNAVAILABLE", 1],
        ["UNAVAILABLE", 4],
      ].sort(),
    );
    expect((await list("globex")).reduce((n, e) => n + (e.count ?? 1), 0)).toBe(5);
  });
});

describe("the embedded store's audit trail is bounded", () => {
  it("past maxEvents the oldest events are dropped and counted; dedupe keys of dropped events go too", async () => {
    const store = createMemoryAuditEvents(() => false, 1000);
    const ids: string[] = [];
    for (let i = 0; i < 5000; i++) {
      const e: AuditEvent = {
        id: newAuditEventId(new Date(1_700_000_000_000 + i)),
        time: new Date(1_700_000_000_000 + i),
        action: "key.grace_expired",
        outcome: "ok",
        code: "OK",
        actor: { kind: "service", id: "", tenantId: "" },
        tenantId: "acme",
        dedupeKey: `d${i}`,
      };
      ids.push(e.id);
      expect(await store.appendAuditEvent(e)).toBe(true);
    }
    const kept = await store.listAuditEvents({ tenantId: "acme", limit: 10_000 });
    expect(kept.length).toBeLessThanOrEqual(1000);
    expect(kept.length).toBeGreaterThanOrEqual(990);
    expect(kept[0]!.id).toBe(ids.at(-1)); // the newest are kept
    expect(store.dropped()).toBe(5000 - kept.length);
    // A dropped event's dedupe key can be used again (as MongoDB's TTL frees its unique index entry).
    expect(await store.appendAuditEvent({ ...kept[0]!, id: newAuditEventId(new Date()), dedupeKey: "d0" })).toBe(true);
  });
});
