import { describe, expect, it } from "vitest";
import { createMemoryTokenStore } from "../../src/adapters/memory/memory-token-store.js";
import { auditPageSize, newAuditEventId, sanitizeClientText, type AuditEvent } from "../../src/domain/audit.js";
import { decodeAuditPageToken, encodeAuditPageToken } from "../../src/domain/audit-page-token.js";
import { createAuditTrail, type AuditDraft } from "../../src/domain/audit-trail.js";
import { DomainError } from "../../src/domain/errors.js";
import { expireGracePeriods } from "../../src/domain/grace-expiry.js";
import { ROTATION_GRACE_MS } from "../../src/domain/key-rules.js";
import { createDomain } from "../support/domain.js";
import { createFaultyStore } from "../support/faulty-store.js";
import { createManualClock } from "../support/manual-clock.js";
import { waitUntil as until } from "../support/poll.js";

const draft: AuditDraft = {
  action: "key.create",
  actor: { kind: "admin_key", id: "key_AAAAAAAAAAAAAAAAAAAA", tenantId: "admin" },
  tenantId: "acme",
};

describe("audit trail: no change without its event", () => {
  it("begin stores a pending event first; complete sets the outcome; the sink sees the real outcome once", async () => {
    const store = createMemoryTokenStore();
    const sunk: [AuditEvent, boolean][] = [];
    const trail = createAuditTrail({ store, clock: createManualClock(), sink: (e, stored) => sunk.push([e, stored]) });
    const pending = await trail.begin(draft);
    expect(await store.listAuditEvents({ tenantId: "acme", limit: 10 })).toEqual([pending.event]);
    expect(pending.event).toMatchObject({ outcome: "pending", code: "" });
    expect(sunk).toEqual([]);
    await pending.complete({ outcome: "ok", code: "OK", keyId: "key_BBBBBBBBBBBBBBBBBBBB" });
    const [stored] = await store.listAuditEvents({ tenantId: "acme", limit: 10 });
    expect(stored).toMatchObject({
      id: pending.event.id,
      outcome: "ok",
      code: "OK",
      keyId: "key_BBBBBBBBBBBBBBBBBBBB",
    });
    expect(sunk).toEqual([[stored, true]]);
  });

  it("begin throws when the event cannot be stored (the change must not run)", async () => {
    const faulty = createFaultyStore(createMemoryTokenStore(), { kind: "fail" });
    const trail = createAuditTrail({ store: faulty.store, clock: createManualClock() });
    await expect(trail.begin(draft)).rejects.toMatchObject({ code: "unavailable" });
  });

  it("a completion the store cannot take leaves the event pending (outcome unknown), then is retried until it lands", async () => {
    const faulty = createFaultyStore(createMemoryTokenStore());
    const sunk: [AuditEvent, boolean][] = [];
    const trail = createAuditTrail({
      store: faulty.store,
      clock: createManualClock(),
      sink: (e, s) => sunk.push([e, s]),
      retryDelaysMs: [20, 20, 20, 20],
    });
    const pending = await trail.begin(draft);
    faulty.setMode({ kind: "fail" }, ["completeAuditEvent"]);
    await pending.complete({ outcome: "ok", code: "OK" }); // never throws
    expect((await faulty.inner.listAuditEvents({ tenantId: "acme", limit: 1 }))[0]!.outcome).toBe("pending");
    expect(sunk.map(([e, s]) => [e.outcome, s])).toEqual([["ok", false]]); // the log line knows the truth
    faulty.heal();
    await until(async () => (await faulty.inner.listAuditEvents({ tenantId: "acme", limit: 1 }))[0]!.outcome === "ok");
  });

  it("record: a finished event; if the store fails it throws, and the sink still gets it (stored: false)", async () => {
    const faulty = createFaultyStore(createMemoryTokenStore(), { kind: "fail" });
    const sunk: [AuditEvent, boolean][] = [];
    const trail = createAuditTrail({
      store: faulty.store,
      clock: createManualClock(),
      sink: (e, s) => sunk.push([e, s]),
    });
    await expect(trail.record(draft, { outcome: "failed", code: "PERMISSION_DENIED" })).rejects.toBeInstanceOf(
      DomainError,
    );
    expect(sunk.map(([e, s]) => [e.code, s])).toEqual([["PERMISSION_DENIED", false]]);
  });
});

describe("grace expiry: exactly one key.grace_expired event, whichever replica sweeps", () => {
  it("two replicas sweeping one store at once: one event per key, the key stored revoked as of revoke_at", async () => {
    const d = createDomain();
    const { key } = await d.keys.create("acme", "CRM", "tester");
    const r = await d.keys.rotate("acme", key.id, "tester");
    const sinks: AuditEvent[][] = [[], []];
    const replicas = sinks.map((seen) =>
      createAuditTrail({ store: d.store, clock: d.clock, sink: (e) => seen.push(e) }),
    );
    const sweep = () =>
      Promise.all(replicas.map((audit) => expireGracePeriods({ store: d.store, audit, clock: d.clock })));

    d.clock.advance(ROTATION_GRACE_MS - 1);
    expect(await sweep()).toEqual([0, 0]); // still in grace
    d.clock.advance(1);
    await sweep();
    await sweep(); // and again: nothing new
    const events = await d.store.listAuditEvents({ tenantId: "acme", action: "key.grace_expired", limit: 10 });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      keyId: key.id,
      outcome: "ok",
      code: "OK",
      actor: { kind: "service", id: "grace-sweep" },
    });
    expect(events[0]!.detail).toContain(r.previous.revokeAt!.toISOString());
    expect(sinks[0]!.length + sinks[1]!.length).toBe(1); // only the replica that stored it logs it
    expect(await d.store.getKey("acme", key.id)).toMatchObject({ status: "revoked", revokedAt: r.previous.revokeAt });
    await d.lastUsed.close();
  });

  it("a crash between the event and the key write: the next sweep stores the key, with no second event", async () => {
    const faulty = createFaultyStore(createMemoryTokenStore());
    const d = createDomain({ store: faulty.store });
    const { key } = await d.keys.create("acme", "CRM", "tester");
    await d.keys.rotate("acme", key.id, "tester");
    d.clock.advance(ROTATION_GRACE_MS);
    const audit = createAuditTrail({ store: faulty.store, clock: d.clock });
    faulty.setMode({ kind: "fail" }, ["revokeKey"]);
    await expect(expireGracePeriods({ store: faulty.store, audit, clock: d.clock })).rejects.toThrow();
    expect((await faulty.inner.getKey("acme", key.id))!.status).toBe("deprecated");
    faulty.heal();
    expect(await expireGracePeriods({ store: faulty.store, audit, clock: d.clock })).toBe(1);
    expect((await faulty.inner.getKey("acme", key.id))!.status).toBe("revoked");
    expect(
      await faulty.inner.listAuditEvents({ tenantId: "acme", action: "key.grace_expired", limit: 10 }),
    ).toHaveLength(1);
    expect(await expireGracePeriods({ store: faulty.store, audit, clock: d.clock })).toBe(0);
    await d.lastUsed.close();
  });

  it("an event that cannot be stored stops the sweep before the key is stored revoked", async () => {
    const faulty = createFaultyStore(createMemoryTokenStore());
    const d = createDomain({ store: faulty.store });
    const { key } = await d.keys.create("acme", "CRM", "tester");
    await d.keys.rotate("acme", key.id, "tester");
    d.clock.advance(ROTATION_GRACE_MS);
    faulty.setMode({ kind: "fail" }, ["appendAuditEvent"]);
    await expect(
      expireGracePeriods({
        store: faulty.store,
        audit: createAuditTrail({ store: faulty.store, clock: d.clock }),
        clock: d.clock,
      }),
    ).rejects.toThrow();
    expect((await faulty.inner.getKey("acme", key.id))!.status).toBe("deprecated");
    await d.lastUsed.close();
  });
});

describe("audit rules", () => {
  it("ids sort like their times, and in creation order within one ms", () => {
    const t = new Date("2026-02-22T14:30:00Z");
    const ids = [
      newAuditEventId(new Date(t.getTime() - 1)),
      newAuditEventId(t),
      newAuditEventId(t),
      newAuditEventId(t),
      newAuditEventId(new Date(t.getTime() + 1)),
    ];
    expect([...ids].sort()).toEqual(ids);
  });

  it("page size: 0 is 100, above 500 is 500, negative is INVALID_ARGUMENT", () => {
    expect(auditPageSize(0)).toBe(100);
    expect(auditPageSize(7)).toBe(7);
    expect(auditPageSize(10_000)).toBe(500);
    expect(() => auditPageSize(-1)).toThrow(/page_size/);
  });

  it("page tokens round-trip, and are refused with other filters or when tampered with", () => {
    const f = { tenantId: "acme", action: "key.rotate" as const, since: new Date(1000), until: undefined };
    const id = newAuditEventId(new Date(5000));
    const token = encodeAuditPageToken(f, id);
    expect(decodeAuditPageToken(token, f)).toBe(id);
    expect(() => decodeAuditPageToken(token, { ...f, tenantId: "globex" })).toThrow(/page_token/);
    expect(() => decodeAuditPageToken(token, { ...f, action: undefined })).toThrow(/page_token/);
    expect(() => decodeAuditPageToken("not a token", f)).toThrow(/page_token/);
    expect(() => decodeAuditPageToken(Buffer.from('{"v":1,"t":"acme","b":"x"}').toString("base64url"), f)).toThrow(
      /page_token/,
    );
  });

  it("client text (user agent) is printable, capped, and never carries a token", () => {
    const key = `wf_acme_${"a".repeat(32)}Ab12Cd`;
    const jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln";
    expect(sanitizeClientText(`curl/8.5 ${key} x`)).toBe("curl/8.5 [redacted]");
    // Split into runs under 32 characters: still cut at the token's start, the rest dropped.
    const split = key.match(/.{1,10}/g)!.join(" ");
    expect(sanitizeClientText(`curl/8.5 ${split}`)).toBe("curl/8.5 [redacted]");
    expect(sanitizeClientText(`app Bearer ${key.slice(8, 20)} ${key.slice(20)}`)).toBe("app [redacted]");
    expect(sanitizeClientText(`app ${jwt}`)).toBe("app [redacted]");
    expect(sanitizeClientText(`sess_acme_${"Z".repeat(38)}`)).toBe("[redacted]");
    expect(sanitizeClientText("grpc-node-js/1.14.7")).toBe("grpc-node-js/1.14.7");
    expect(sanitizeClientText("a\nb\u0000c\u202ed")).toBe("a\\x0ab\\x00c\\u202ed");
    expect(sanitizeClientText("x ".repeat(1000))!.length).toBeLessThanOrEqual(256);
    expect(sanitizeClientText("")).toBeUndefined();
  });
});
