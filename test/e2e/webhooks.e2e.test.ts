import { afterEach, describe, expect, it } from "vitest";
import { createMemoryTokenStore } from "../../src/adapters/memory/memory-token-store.js";
import { createMemoryWebhookStore } from "../../src/adapters/memory/memory-webhook-store.js";
import { AuditAction } from "../../src/gen/warpflow/auth/v1/token_service_pb.js";
import { hashToken } from "../../src/domain/token-hash.js";
import { codeOf } from "../support/codes.js";
import { pollUntil, sleep, waitUntil } from "../support/poll.js";
import { startTestApp, type TestApp } from "../support/test-app.js";
import { startWebhookReceiver, type Respond, type WebhookReceiver } from "../support/webhook-receiver.js";

/**
 * Lifecycle webhooks end to end (issue 24): the real service, a real receiver on loopback that
 * verifies every delivery with the `standardwebhooks` library. Loopback is allowed here only by
 * WEBHOOK_ALLOWED_CIDRS (the SSRF test below runs without it and is refused).
 */
const FAST = {
  WEBHOOK_ALLOW_HTTP: "true",
  WEBHOOK_ALLOWED_CIDRS: "127.0.0.1/32",
  WEBHOOK_POLL_MS: "50",
  WEBHOOK_RETRY_BASE_MS: "50",
  WEBHOOK_RETRY_MAX_MS: "200",
  WEBHOOK_TIMEOUT_MS: "1500",
  WEBHOOK_CLAIM_MS: "5000",
};

const opened: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const o of opened.splice(0).reverse()) await o.close();
});

async function start(
  env: Record<string, string> = {},
  more: Parameters<typeof startTestApp>[0] = {},
): Promise<TestApp> {
  const t = await startTestApp({ ...more, env: { ...FAST, ...env, ...more.env } });
  opened.push(t);
  return t;
}
async function receiver(respond?: Respond): Promise<WebhookReceiver> {
  const r = await startWebhookReceiver({ respond });
  opened.push(r);
  return r;
}
const admin = (t: TestApp) => ({ bearer: t.adminKey });
/** What a receiver that deduplicates on webhook-id (as docs/webhooks.md asks) processes: first arrivals, in order. */
const processed = (r: WebhookReceiver) =>
  r.delivered().filter((x, i, all) => all.findIndex((y) => y.id === x.id) === i);

async function register(t: TestApp, r: WebhookReceiver, tenantId = "acme", events: string[] = []) {
  const res = await t.grpc.createWebhookEndpoint({ tenantId, url: r.url, events }, admin(t));
  r.secrets.push(res.secret);
  return res;
}

describe("lifecycle webhooks: deliveries a standardwebhooks receiver verifies", () => {
  it("delivers key.created, key.rotated, key.revoked, policy.changed and sessions.revoked in order, signed, without a token, hash or secret", async () => {
    const t = await start();
    const r = await receiver();
    const { secret, endpoint } = await register(t, r);
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(endpoint?.id).toMatch(/^wh_/);
    const created = await t.grpc.createKey({ tenantId: "acme", label: "crm" }, admin(t));
    const rotated = await t.grpc.rotateKey({ tenantId: "acme", keyId: created.key!.id }, admin(t));
    await t.grpc.revokeKey({ tenantId: "acme", keyId: rotated.key!.id }, admin(t));
    await t.grpc.setTenantPolicy({ tenantId: "acme", hipaaEnabled: true }, admin(t));
    await t.grpc.revokeTenantSessions({ tenantId: "acme" }, admin(t));
    await t.grpc.createKey({ tenantId: "other", label: "not ours" }, admin(t)); // another tenant: not sent here
    await waitUntil(() => processed(r).length >= 5, 15_000, "five deliveries");
    await sleep(300);
    const got = processed(r);
    expect(got.map((x) => x.event!.type)).toEqual([
      "key.created",
      "key.rotated",
      "key.revoked",
      "policy.changed",
      "sessions.revoked",
    ]);
    expect(r.requests.every((x) => x.verified)).toBe(true);
    expect(got[0]!.event!.data).toMatchObject({ tenant_id: "acme", key_id: created.key!.id, actor_type: "admin_key" });
    expect(got[1]!.event!.data).toMatchObject({ key_id: created.key!.id, successor_key_id: rotated.key!.id });
    expect(got[3]!.event!.data).toMatchObject({ hipaa_enabled: true });
    expect(got[4]!.event!.data).toMatchObject({ revoked_count: 0 });
    expect(got.every((x) => /^msg_[0-9A-Za-z]{24}$/.test(x.id))).toBe(true);
    // Never a token, a token hash or a secret: in any payload, header or log line.
    const secrets = [created.token, rotated.token, t.adminKey, secret, secret.slice("whsec_".length)];
    const hashes = [created.token, rotated.token].map((tok) => hashToken(tok));
    const everything = [...r.requests.map((x) => `${x.body} ${x.signature}`), ...t.logs].join("\n");
    for (const s of [...secrets, ...hashes]) expect(everything).not.toContain(s);
  });

  it("retries after 500s and a timeout with the same webhook-id, and keeps an endpoint's events in order", async () => {
    const t = await start();
    // 500, timeout (hang), 500, then success.
    const r = await receiver((_req, n) => (n === 0 || n === 2 ? 500 : n === 1 ? "hang" : 200));
    await register(t, r);
    const first = await t.grpc.createKey({ tenantId: "acme", label: "first" }, admin(t));
    const second = await t.grpc.createKey({ tenantId: "acme", label: "second" }, admin(t));
    await waitUntil(() => processed(r).length >= 2, 20_000, "both delivered");
    const ids = r.requests.map((x) => x.id);
    // The first message was tried four times, always with one id; the second waited behind it.
    expect(ids.slice(0, 4)).toEqual([ids[0], ids[0], ids[0], ids[0]]);
    expect(r.requests.slice(0, 4).map((x) => x.answered)).toEqual([500, "hang", 500, 200]);
    expect(processed(r).map((x) => x.event!.data["key_id"])).toEqual([first.key!.id, second.key!.id]);
    // Each attempt carries its own timestamp, signed again (receivers check tolerance on it).
    expect(r.requests.every((x) => x.verified)).toBe(true);
    const [ep] = (await t.grpc.listWebhookEndpoints({ tenantId: "acme" }, admin(t))).endpoints;
    expect(ep!.lastFailure).toMatch(/HTTP 500|timeout/);
    expect(ep!.disabledAt).toBeUndefined();
    expect(ep!.backlog).toBe(0n);
  });

  it("delivers after a restart between the outbox write and the send, also when the first instance died holding the claim", async () => {
    const memory = createMemoryTokenStore();
    const webhookStore = createMemoryWebhookStore({ keys: () => memory.keyRecords() });
    const store = { ...memory, close: async () => {} }; // one store instance, outliving both apps
    const r = await receiver();
    // The first instance stores the event and stops before sending (WEBHOOK_DELIVERY=off).
    const a = await startTestApp({ store, webhookStore, env: { ...FAST, WEBHOOK_DELIVERY: "off" } });
    await register(a, r);
    const key = await a.grpc.createKey({ tenantId: "acme", label: "before restart" }, admin(a));
    const [ep] = (await a.grpc.listWebhookEndpoints({ tenantId: "acme" }, admin(a))).endpoints;
    expect(ep!.backlog).toBe(1n);
    // As if it had claimed the endpoint and died mid-send: the claim lapses after WEBHOOK_CLAIM_MS.
    const now = new Date();
    expect(
      await webhookStore.claimEndpoint({
        endpointId: ep!.id,
        holder: "crashed",
        now,
        until: new Date(now.getTime() + 1500),
      }),
    ).toBe(true);
    const adminKeyFile = a.adminKeyFile;
    a.grpc.close();
    await a.app.close();
    expect(r.requests).toHaveLength(0);
    const b = await start({}, { store, webhookStore, env: { ADMIN_KEY_FILE: adminKeyFile } });
    await sleep(700);
    expect(r.requests).toHaveLength(0); // still claimed by the dead instance
    await waitUntil(() => r.delivered().length === 1, 10_000, "delivered by the new instance");
    expect(r.delivered()[0]!.event).toMatchObject({ type: "key.created", data: { key_id: key.key!.id } });
    expect((await b.grpc.listWebhookEndpoints({ tenantId: "acme" }, admin(a))).endpoints[0]!.backlog).toBe(0n);
    await memory.close();
  });

  it("disables an endpoint whose receiver stays down longer than the retry window, audited and visible in the list", async () => {
    const t = await start({ WEBHOOK_DISABLE_AFTER_MS: "800" });
    const r = await receiver();
    await register(t, r);
    await r.close(); // nothing listens on that port any more: connection refused
    await t.grpc.createKey({ tenantId: "acme", label: "nobody hears" }, admin(t));
    const disabled = await pollUntil(
      async () => {
        const [ep] = (await t.grpc.listWebhookEndpoints({ tenantId: "acme" }, admin(t))).endpoints;
        return ep?.disabledAt !== undefined;
      },
      10_000,
      50,
    );
    expect(disabled).toBe(true);
    const [ep] = (await t.grpc.listWebhookEndpoints({ tenantId: "acme" }, admin(t))).endpoints;
    expect(ep!.lastFailure).toMatch(/connection failed/);
    expect(ep!.backlog).toBe(0n); // its pending messages were dropped
    const audit = await t.grpc.listAuditEvents({ tenantId: "acme", action: AuditAction.WEBHOOK_DISABLED }, admin(t));
    expect(audit.events).toHaveLength(1);
    expect(audit.events[0]!.detail).toContain(ep!.id);
  });

  it("bounds an endpoint's outbox: at WEBHOOK_MAX_PENDING_PER_ENDPOINT it takes no more and is disabled, audited; the admin calls never fail", async () => {
    const webhookStore = createMemoryWebhookStore();
    const memory = createMemoryTokenStore();
    // Nothing is sent here, so every event stays pending, as for a receiver down all day.
    const t = await start(
      { WEBHOOK_DELIVERY: "off", WEBHOOK_MAX_PENDING_PER_ENDPOINT: "10" },
      { store: memory, webhookStore },
    );
    opened.push({ close: () => memory.close() });
    const r = await receiver();
    const { endpoint } = await register(t, r);
    let most = 0;
    for (let i = 0; i < 25; i++) {
      await t.grpc.setTenantPolicy({ tenantId: "acme", hipaaEnabled: i % 2 === 0 }, admin(t)); // never fails
      most = Math.max(most, await webhookStore.countPending(endpoint!.id));
    }
    expect(most).toBe(10);
    const disabled = await pollUntil(
      async () =>
        (await t.grpc.listWebhookEndpoints({ tenantId: "acme" }, admin(t))).endpoints[0]?.disabledAt !== undefined,
      5000,
      20,
    );
    expect(disabled).toBe(true);
    expect(await webhookStore.countPending(endpoint!.id)).toBe(0); // dropped, as for an endpoint failing too long
    const audit = await t.grpc.listAuditEvents({ tenantId: "acme", action: AuditAction.WEBHOOK_DISABLED }, admin(t));
    expect(audit.events).toHaveLength(1);
    expect(audit.events[0]!.detail).toBe(
      `endpoint ${endpoint!.id} disabled: 10 undelivered messages (WEBHOOK_MAX_PENDING_PER_ENDPOINT)`,
    );
    const metrics = await (await fetch(`${t.baseUrl}/metrics`)).text();
    expect(metrics).toMatch(/warpflow_webhook_deliveries_total\{outcome="disabled"\} 1/);
  });

  it("refuses a loopback destination by default (SSRF), without a request reaching it", async () => {
    const t = await start({ WEBHOOK_ALLOWED_CIDRS: "" });
    const r = await receiver();
    await register(t, r);
    await t.grpc.createKey({ tenantId: "acme", label: "x" }, admin(t));
    const refused = await pollUntil(
      async () => {
        const [ep] = (await t.grpc.listWebhookEndpoints({ tenantId: "acme" }, admin(t))).endpoints;
        return (ep?.lastFailure ?? "").includes("destination refused");
      },
      10_000,
      50,
    );
    expect(refused).toBe(true);
    expect(r.requests).toHaveLength(0);
  });

  it("signs with both secrets during the overlap after RotateWebhookSecret; a platform-wide endpoint hears every tenant", async () => {
    const t = await start();
    const r = await receiver();
    const { secret: old, endpoint } = await register(t, r, "admin");
    const rotated = await t.grpc.rotateWebhookSecret({ tenantId: "admin", endpointId: endpoint!.id }, admin(t));
    expect(rotated.secret).not.toBe(old);
    expect(rotated.endpoint!.previousSecretExpiresAt).toBeDefined();
    r.secrets.splice(0, r.secrets.length, rotated.secret); // a receiver that already has the new secret
    await t.grpc.createKey({ tenantId: "acme", label: "a" }, admin(t));
    await t.grpc.createKey({ tenantId: "initech", label: "b" }, admin(t));
    await waitUntil(() => processed(r).length >= 2, 10_000, "two deliveries");
    expect(processed(r).map((x) => x.event!.data["tenant_id"])).toEqual(["acme", "initech"]);
    // ... and one that still has only the old one verifies the same deliveries.
    const { Webhook } = await import("standardwebhooks");
    for (const x of r.delivered()) {
      const h = { "webhook-id": x.id, "webhook-timestamp": x.timestamp, "webhook-signature": x.signature };
      expect(() => new Webhook(old).verify(x.body, h)).not.toThrow();
      expect(x.signature.split(" ")).toHaveLength(2);
    }
    // Listing never shows a secret.
    const listed = JSON.stringify(
      (await t.grpc.listWebhookEndpoints({ tenantId: "admin" }, admin(t))).endpoints,
      (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v),
    );
    expect(listed).not.toContain(rotated.secret.slice(6));
    expect(listed).not.toContain(old.slice(6));
    // Deleted: nothing more is sent.
    await t.grpc.deleteWebhookEndpoint({ tenantId: "admin", endpointId: endpoint!.id }, admin(t));
    await t.grpc.createKey({ tenantId: "acme", label: "c" }, admin(t));
    await sleep(400);
    expect(processed(r)).toHaveLength(2);
  });

  it("validates: https only, known event types, a bounded count per tenant; INVALID_ARGUMENT names the field, never the value", async () => {
    const t = await start({ WEBHOOK_ALLOW_HTTP: "false", WEBHOOK_MAX_ENDPOINTS_PER_TENANT: "2" });
    const call = (url: string, events: string[] = []) =>
      t.grpc.createWebhookEndpoint({ tenantId: "acme", url, events }, admin(t));
    const err = await call("http://hunter2-secret.example/hook").catch((e: { code: number; details: string }) => e);
    expect((err as { details: string }).details).toMatch(/^url: /);
    expect((err as { details: string }).details).not.toContain("hunter2");
    expect(await codeOf(call("not a url at all hunter2"))).toBe("INVALID_ARGUMENT");
    expect(await codeOf(call("https://user:hunter2@example.com/"))).toBe("INVALID_ARGUMENT");
    const bad = await call("https://example.com/", ["key.hunter2"]).catch((e: { details: string }) => e);
    expect((bad as { details: string }).details).toMatch(/^events: /);
    expect((bad as { details: string }).details).not.toContain("hunter2");
    await call("https://example.com/a", ["key.created"]);
    await call("https://example.com/b");
    expect(await codeOf(call("https://example.com/c"))).toBe("RESOURCE_EXHAUSTED");
    expect(await codeOf(t.grpc.listWebhookEndpoints({ tenantId: "acme" }, {}))).toBe("UNAUTHENTICATED");
    expect(
      await codeOf(
        t.grpc.deleteWebhookEndpoint({ tenantId: "acme", endpointId: "wh_0000000000000000000000" }, admin(t)),
      ),
    ).toBe("NOT_FOUND");
    const audit = await t.grpc.listAuditEvents({ tenantId: "acme", action: AuditAction.WEBHOOK_CREATE }, admin(t));
    expect(audit.events.filter((e) => e.code === "OK")).toHaveLength(2);
    expect(JSON.stringify(audit.events.map((e) => e.detail))).not.toContain("hunter2");
  });
});
