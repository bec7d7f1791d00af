import { describe, expect, it } from "vitest";
import pino from "pino";
import { createMemoryTokenStore } from "../../src/adapters/memory/memory-token-store.js";
import { createMemoryWebhookStore } from "../../src/adapters/memory/memory-webhook-store.js";
import { retryDelayMs, startWebhookSender } from "../../src/app/webhook-sender.js";
import { scheduleWebhookEvents, startWebhookSchedule } from "../../src/app/webhook-schedule.js";
import type { AuditEvent } from "../../src/domain/audit.js";
import { createAuditTrail } from "../../src/domain/audit-trail.js";
import { expireGracePeriods } from "../../src/domain/grace-expiry.js";
import { newKeyId } from "../../src/domain/key-rules.js";
import type { KeyRecord } from "../../src/domain/records.js";
import { withWebhookEvents } from "../../src/domain/webhook-audit-trail.js";
import { AUDIT_EVENT_TYPES, webhookEventOf } from "../../src/domain/webhook-events.js";
import { createEnqueue } from "../../src/domain/webhook-outbox.js";
import { newEndpointId, type WebhookEndpointRecord } from "../../src/domain/webhook-records.js";
import { createManualClock, HOUR } from "../support/manual-clock.js";
import { pollUntil } from "../support/poll.js";

const silent = pino({ level: "silent" });
const endpoint = (tenantId: string, events: string[] = []): WebhookEndpointRecord => ({
  id: newEndpointId(),
  tenantId,
  url: "https://example.com/",
  events,
  secrets: [{ secret: "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=", createdAt: new Date(0) }],
  createdAt: new Date(0),
  createdBy: "t",
});
const ev = (over: Partial<AuditEvent>): AuditEvent => ({
  id: "ev_1",
  time: new Date(0),
  action: "key.create",
  outcome: "ok",
  code: "OK",
  actor: { kind: "admin_key", id: "key_x", tenantId: "admin" },
  tenantId: "acme",
  ...over,
});

describe("webhook events from the audit trail", () => {
  it("maps completed ok events by action NAME, including the actions other branches add; nothing else", () => {
    expect(AUDIT_EVENT_TYPES).toMatchObject({
      "key.grace_expired": "key.grace_ended",
      "key.expired": "key.expired",
      "key.suspend": "key.suspended",
      "key.resume": "key.resumed",
      "key.exposed": "key.exposed",
      "sessions.revoke_all": "sessions.revoked",
      "policy.set": "policy.changed",
    });
    // An action this branch does not know yet (issue 24's alert endpoint records it) maps by its name.
    expect(webhookEventOf(ev({ action: "key.exposed" as AuditEvent["action"], keyId: "key_y" }))?.type).toBe(
      "key.exposed",
    );
    expect(webhookEventOf(ev({ outcome: "failed" }))).toBeUndefined();
    expect(webhookEventOf(ev({ outcome: "pending" }))).toBeUndefined();
    expect(webhookEventOf(ev({ action: "keys.list" }))).toBeUndefined();
    // A detail never travels as text: only the ids and values parsed from it.
    const e = webhookEventOf(
      ev({ action: "key.rotate", keyId: "key_a", detail: "successor key_00000000000000000001 wf_secret" }),
    );
    expect(e?.data).toEqual({
      tenant_id: "acme",
      audit_event_id: "ev_1",
      actor_type: "admin_key",
      key_id: "key_a",
      successor_key_id: "key_00000000000000000001",
    });
  });

  it("a grace expiry swept by two replicas at once is one message per endpoint (dedupe key), for the tenant's and the platform's endpoints", async () => {
    const store = createMemoryTokenStore();
    const webhooks = createMemoryWebhookStore();
    const clock = createManualClock();
    await webhooks.insertEndpoint(endpoint("acme"), 10);
    await webhooks.insertEndpoint(endpoint("admin"), 10);
    await webhooks.insertEndpoint(endpoint("acme", ["key.revoked"]), 10); // not subscribed to grace_ended
    await webhooks.insertEndpoint(endpoint("initech"), 10); // another tenant
    const trail = () =>
      withWebhookEvents(
        createAuditTrail({ store, clock }),
        createEnqueue(webhooks, clock.now),
        (e) => {
          throw e;
        },
        clock.now,
      );
    const key = {
      id: newKeyId(),
      tenantId: "acme",
      label: "k",
      tokenHash: "h",
      hint: "…",
      status: "active",
      createdAt: clock.now(),
      createdBy: "t",
    } as KeyRecord;
    await store.insertKey(key, 3);
    const succ = { ...key, id: newKeyId(), tokenHash: "h2" };
    await store.rotateKey({
      tenantId: "acme",
      keyId: key.id,
      successor: succ,
      revokeAt: new Date(clock.now().getTime() + HOUR),
      maxActive: 3,
      maxDeprecated: 3,
      now: clock.now(),
    });
    clock.advance(2 * HOUR);
    const [a, b] = [trail(), trail()];
    await Promise.all([expireGracePeriods({ store, audit: a, clock }), expireGracePeriods({ store, audit: b, clock })]);
    expect(await webhooks.countPending()).toBe(2); // acme's catch-all and the platform's
    const due = await webhooks.dueEndpoints(clock.now(), 10);
    const msgs = (await Promise.all(due.map((id) => webhooks.pendingMessages(id, 10)))).flat();
    expect(msgs.map((m) => JSON.parse(m.payload).type)).toEqual(["key.grace_ended", "key.grace_ended"]);
    expect(JSON.parse(msgs[0]!.payload).data).toMatchObject({ tenant_id: "acme", key_id: key.id });
  });

  it("key.grace_ending and key.expiring are stored once per endpoint however many replicas and runs schedule them", async () => {
    const store = createMemoryTokenStore();
    const webhooks = createMemoryWebhookStore({ keys: () => store.keyRecords() });
    const clock = createManualClock();
    await webhooks.insertEndpoint(endpoint("acme"), 10);
    const now = clock.now();
    const mk = (over: Partial<KeyRecord> & { expiresAt?: Date }) =>
      ({
        id: newKeyId(),
        tenantId: "acme",
        label: "k",
        tokenHash: newKeyId(),
        hint: "…",
        status: "active",
        createdAt: now,
        createdBy: "t",
        ...over,
      }) as KeyRecord;
    const old = mk({});
    await store.insertKey(old, 3);
    await store.rotateKey({
      tenantId: "acme",
      keyId: old.id,
      successor: mk({}),
      revokeAt: new Date(now.getTime() + 10 * HOUR),
      maxActive: 3,
      maxDeprecated: 3,
      now,
    });
    await store.insertKey(mk({ expiresAt: new Date(now.getTime() + 48 * HOUR) }), 3); // within 7 days
    // (a third active key with a far expiry would exceed the limit; the window is checked by the contract suite)
    const enqueue = createEnqueue(webhooks, clock.now);
    const runs = await Promise.all([1, 2, 3].map(() => scheduleWebhookEvents({ store, webhooks, enqueue, now })));
    expect(runs.reduce((x, y) => x + y, 0)).toBe(2);
    const [id] = await webhooks.dueEndpoints(now, 10);
    const types = (await webhooks.pendingMessages(id!, 10)).map((m) => JSON.parse(m.payload));
    expect(types.map((t: { type: string }) => t.type).sort()).toEqual(["key.expiring", "key.grace_ending"]);
    expect(types.find((t: { type: string }) => t.type === "key.grace_ending").data).toMatchObject({
      key_id: old.id,
      grace_ends_at: new Date(now.getTime() + 10 * HOUR).toISOString(),
    });
    // Under the lease: of two replicas' jobs, only the holder runs.
    const ran: string[] = [];
    const job = (holder: string) =>
      startWebhookSchedule({
        store,
        webhooks,
        enqueue: async (e) => (ran.push(holder), enqueue(e)),
        clock,
        logger: silent,
        intervalMs: 3_600_000,
        holder,
      });
    const [j1, j2] = [job("r1"), job("r2")];
    await j1.runNow();
    await j2.runNow();
    j1.stop();
    j2.stop();
    expect(new Set(ran)).toEqual(new Set(["r1"]));
  });

  it("an outbox write that fails neither fails nor undoes the change: reported once, the audit event still completes", async () => {
    const store = createMemoryTokenStore();
    const clock = createManualClock();
    const failures: string[] = [];
    const trail = withWebhookEvents(
      createAuditTrail({ store, clock }),
      async () => {
        throw new Error("store unavailable");
      },
      (_err, e) => failures.push(e.action),
      clock.now,
    );
    const draft = {
      action: "key.revoke" as const,
      actor: { kind: "admin_key" as const, id: "k", tenantId: "admin" },
      tenantId: "acme",
      keyId: "key_x",
    };
    const pending = await trail.begin(draft);
    await expect(pending.complete({ outcome: "ok", code: "OK" })).resolves.toBeUndefined();
    const failed = await trail.begin(draft);
    await failed.complete({ outcome: "failed", code: "NOT_FOUND" }); // a failed call sends nothing: no write tried
    expect(failures).toEqual(["key.revoke"]);
    const events = await trail.list({ tenantId: "acme", limit: 10 });
    expect(events.map((e) => e.outcome).sort()).toEqual(["failed", "ok"]);
  });

  it("backoff doubles from the base up to the cap, with jitter within ±25 %", () => {
    expect(retryDelayMs(1, 1000, 60_000, () => 0.5)).toBe(1000);
    expect(retryDelayMs(4, 1000, 60_000, () => 0.5)).toBe(8000);
    expect(retryDelayMs(30, 1000, 60_000, () => 0.5)).toBe(60_000);
    expect(retryDelayMs(3, 1000, 60_000, () => 0)).toBe(3000);
    expect(retryDelayMs(3, 1000, 60_000, () => 1)).toBe(5000);
  });

  it("two senders on one store: each message sent once, and a failing endpoint disabled with ONE webhook.disabled event", async () => {
    const store = createMemoryTokenStore();
    const webhooks = createMemoryWebhookStore();
    const clock = createManualClock();
    const good = endpoint("acme");
    const bad = endpoint("acme");
    await webhooks.insertEndpoint(good, 10);
    await webhooks.insertEndpoint(bad, 10);
    const enqueue = createEnqueue(webhooks, clock.now);
    for (let i = 0; i < 5; i++)
      await enqueue({ type: "key.created", tenantId: "acme", timestamp: clock.now(), data: { n: i } });
    const sent: string[] = [];
    const deliver = async (url: string, h: Record<string, string>) => {
      await new Promise((r) => setTimeout(r, 2));
      if (url === good.url && h["webhook-signature"]!.startsWith("v1,")) {
        sent.push(h["webhook-id"]!);
        return { ok: true as const, status: 200 };
      }
      return { ok: false as const, failure: "HTTP 503" };
    };
    bad.url = "https://down.example/";
    await webhooks.deleteEndpoint("acme", bad.id);
    await webhooks.insertEndpoint(bad, 10);
    await enqueue({ type: "key.revoked", tenantId: "acme", timestamp: clock.now(), data: {} });
    const audit = createAuditTrail({ store, clock });
    const senders = ["s1", "s2"].map((holder) =>
      startWebhookSender({
        store: webhooks,
        audit,
        clock,
        logger: silent,
        deliver,
        config: { pollMs: 10, retryBaseMs: 1, retryMaxMs: 1, disableAfterMs: 1000, claimMs: 60_000 },
        holder,
      }),
    );
    try {
      expect(await pollUntil(() => sent.length >= 6, 5000)).toBe(true);
      expect(new Set(sent).size).toBe(sent.length); // never sent twice
      clock.advance(2000); // the bad endpoint has failed for longer than disableAfterMs
      expect(await pollUntil(async () => (await webhooks.getEndpoint(bad.id))?.disabledAt !== undefined, 5000)).toBe(
        true,
      );
      await new Promise((r) => setTimeout(r, 100));
      const events = await audit.list({ tenantId: "acme", action: "webhook.disabled", limit: 10 });
      expect(events).toHaveLength(1);
      expect(events[0]!.detail).toContain(bad.id);
    } finally {
      for (const s of senders) await s.stop();
    }
  });
});
