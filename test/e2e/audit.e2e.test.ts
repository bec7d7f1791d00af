import { Code, createClient, type ConnectError } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { beforeAll, describe, expect, it } from "vitest";
import { createMemoryTokenStore } from "../../src/adapters/memory/memory-token-store.js";
import {
  AuditAction,
  AuditActorKind,
  AuditOutcome,
  InactiveReason,
  TokenService,
  type AuditEvent,
} from "../../src/gen/warpflow/auth/v1/token_service_pb.js";
import { createFaultyStore, type FaultyStore } from "../support/faulty-store.js";
import { startTestApp, useTestApp } from "../support/test-app.js";
import { codeOf } from "../support/codes.js";
import { pollValue as until } from "../support/poll.js";

/** The audit trail and session revocation over real gRPC, Connect and REST on a real server. */
let faulty: FaultyStore;
const admin = () => ({ bearer: t.adminKey });
let adminKeyId: string;

const t = useTestApp(async () => {
  faulty = createFaultyStore(createMemoryTokenStore());
  return { store: faulty.store };
});
beforeAll(async () => {
  adminKeyId = (await t.grpc.introspect({ token: t.adminKey })).keyId;
});

const latest = async (tenantId: string, action?: AuditAction): Promise<AuditEvent> =>
  (await t.grpc.listAuditEvents({ tenantId, pageSize: 1, action }, admin())).events[0]!;

describe("audit events over every protocol", () => {
  it("gRPC: who, from where, with what, on which tenant and key", async () => {
    const { key } = await t.grpc.createKey({ tenantId: "acme", label: "CRM Sync" }, admin());
    const e = await latest("acme", AuditAction.KEY_CREATE);
    expect(e).toMatchObject({
      action: AuditAction.KEY_CREATE,
      outcome: AuditOutcome.OK,
      code: "OK",
      actor: { kind: AuditActorKind.ADMIN_KEY, id: adminKeyId, tenantId: "admin" },
      tenantId: "acme",
      keyId: key!.id,
      protocol: "grpc",
    });
    expect(e.peer).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(e.userAgent).toMatch(/^grpc-node-js\//);
    expect(e.id).toMatch(/^ev_/);
  });

  it("Connect JSON and REST: protocol, user agent and peer of the HTTP/1.1 request", async () => {
    const res = await fetch(`${t.baseUrl}/warpflow.auth.v1.TokenService/GetTenantPolicy`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        authorization: `Bearer ${t.adminKey}`,
        "user-agent": "ops-dashboard/2.3",
      },
      body: JSON.stringify({ tenantId: "acme" }),
    });
    expect(res.status).toBe(200);
    expect(await latest("acme", AuditAction.POLICY_GET)).toMatchObject({
      protocol: "connect",
      userAgent: "ops-dashboard/2.3",
      code: "OK",
    });
    const rest = await fetch(`${t.baseUrl}/api/v1/sessions`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        authorization: `Bearer ${t.adminKey}`,
        "user-agent": "curl/8.5.0",
      },
      body: '{"tenant_id": "acme"}',
    });
    expect(rest.status).toBe(200);
    const e = await latest("acme", AuditAction.SESSION_CREATE);
    expect(e).toMatchObject({ protocol: "rest", userAgent: "curl/8.5.0", outcome: AuditOutcome.OK });
    expect(e.sessionId).toMatch(/^ses_/);
    expect(e.peer).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  it("refused attempts are recorded under the tenant they aimed at, with the code; a bad tenant id goes to admin", async () => {
    expect(await codeOf(t.grpc.listKeys({ tenantId: "initech" }))).toBe("UNAUTHENTICATED");
    expect(await latest("initech")).toMatchObject({
      action: AuditAction.KEYS_LIST,
      outcome: AuditOutcome.FAILED,
      code: "UNAUTHENTICATED",
      actor: { kind: AuditActorKind.NONE, id: "" },
      tenantId: "initech",
    });
    const { token } = await t.grpc.createKey({ tenantId: "initech", label: "integration" }, admin());
    expect(
      await codeOf(t.grpc.revokeKey({ tenantId: "initech", keyId: "key_AAAAAAAAAAAAAAAAAAAA" }, { bearer: token })),
    ).toBe("PERMISSION_DENIED");
    expect(await latest("initech", AuditAction.KEY_REVOKE)).toMatchObject({
      code: "PERMISSION_DENIED",
      actor: { kind: AuditActorKind.API_KEY, tenantId: "initech" },
      keyId: "key_AAAAAAAAAAAAAAAAAAAA",
    });
    expect(await codeOf(t.grpc.createKey({ tenantId: "NOT VALID", label: "x" }, admin()))).toBe("INVALID_ARGUMENT");
    expect(await latest("admin", AuditAction.KEY_CREATE)).toMatchObject({
      code: "INVALID_ARGUMENT",
      tenantId: "admin",
      detail: expect.stringContaining("tenant_id"),
    });
  });

  it('each event is one structured log line with "audit": true', async () => {
    await t.grpc.setTenantPolicy({ tenantId: "umbrella", hipaaEnabled: true }, admin());
    const e = await latest("umbrella", AuditAction.POLICY_SET);
    const line = t.logs.find((l) => l.includes(e.id));
    expect(line).toBeDefined();
    expect(JSON.parse(line!)).toMatchObject({
      audit: true,
      stored: true,
      action: "policy.set",
      outcome: "ok",
      code: "OK",
      tenant: "umbrella",
      detail: "hipaa_enabled=true",
      protocol: "grpc",
    });
    expect(t.logs.filter((l) => l.includes(e.id))).toHaveLength(1);
  });
});

describe("no change without its event, even when the store fails", () => {
  it("the pending event cannot be stored: UNAVAILABLE and no key is created", async () => {
    const before = (await t.grpc.listKeys({ tenantId: "wayne" }, admin())).keys.length;
    const inserts = faulty.reached.insertKey ?? 0;
    faulty.setMode({ kind: "fail" }, ["appendAuditEvent"]);
    try {
      expect(await codeOf(t.grpc.createKey({ tenantId: "wayne", label: "x" }, admin()))).toBe("UNAVAILABLE");
      expect(faulty.reached.insertKey ?? 0).toBe(inserts); // the store never saw the insert
    } finally {
      faulty.heal();
    }
    expect((await t.grpc.listKeys({ tenantId: "wayne" }, admin())).keys).toHaveLength(before);
  });

  it("the completion cannot be stored: the call succeeds, its event reads UNKNOWN, then lands once the store is back", async () => {
    faulty.setMode({ kind: "fail" }, ["completeAuditEvent"]);
    let created;
    try {
      created = await t.grpc.createKey({ tenantId: "wayne", label: "during outage" }, admin());
      const e = await latest("wayne", AuditAction.KEY_CREATE);
      expect(e).toMatchObject({ outcome: AuditOutcome.UNKNOWN, code: "", keyId: "" });
    } finally {
      faulty.heal();
    }
    const done = await until(
      () => latest("wayne", AuditAction.KEY_CREATE),
      (e) => e.outcome === AuditOutcome.OK,
      5000,
    );
    expect(done).toMatchObject({ outcome: AuditOutcome.OK, keyId: created.key!.id });
  });

  it("a refused attempt whose event cannot be stored is still refused (not UNAVAILABLE)", async () => {
    faulty.setMode({ kind: "fail" }, ["appendAuditEvent"]);
    try {
      expect(await codeOf(t.grpc.createKey({ tenantId: "wayne", label: "x" }, { bearer: "wf_wayne_nope" }))).toBe(
        "UNAUTHENTICATED",
      );
    } finally {
      faulty.heal();
    }
    const line = t.logs.findLast((l) => l.includes('"audit":true') && l.includes('"stored":false'));
    expect(JSON.parse(line!)).toMatchObject({ action: "key.create", code: "UNAUTHENTICATED", tenant: "wayne" });
  });

  it("a read whose event cannot be stored answers UNAVAILABLE (no answer without its event)", async () => {
    faulty.setMode({ kind: "fail" }, ["appendAuditEvent"]);
    try {
      expect(await codeOf(t.grpc.listKeys({ tenantId: "wayne" }, admin()))).toBe("UNAVAILABLE");
    } finally {
      faulty.heal();
    }
  });
});

describe("ListAuditEvents", () => {
  it("pages newest first with a stable cursor; page_size is capped at 500; bad tokens and sizes are INVALID_ARGUMENT", async () => {
    for (let i = 0; i < 7; i++) await t.grpc.getTenantPolicy({ tenantId: "paging" }, admin());
    // ListAuditEvents is an admin RPC too: each call adds an audit.list event (newer than any page).
    const all = (await t.grpc.listAuditEvents({ tenantId: "paging" }, admin())).events;
    expect(all.map((e) => e.action)).toEqual(Array(7).fill(AuditAction.POLICY_GET));
    const ids: string[] = [];
    const actions: AuditAction[] = [];
    let pageToken = "";
    do {
      const page = await t.grpc.listAuditEvents({ tenantId: "paging", pageSize: 3, pageToken }, admin());
      ids.push(...page.events.map((e) => e.id));
      actions.push(...page.events.map((e) => e.action));
      await t.grpc.getTenantPolicy({ tenantId: "paging" }, admin()); // new events while paging
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    // Everything that existed when paging began, once, in order: the audit.list of the listing
    // above, then the 7 reads; nothing written while paging shifts a page.
    expect(actions[0]).toBe(AuditAction.AUDIT_LIST);
    expect(ids.slice(1)).toEqual(all.map((e) => e.id));
    expect([...ids].sort().reverse()).toEqual(ids);
    expect(
      (await t.grpc.listAuditEvents({ tenantId: "paging", pageSize: 100_000 }, admin())).events.length,
    ).toBeLessThanOrEqual(500);
    expect(await codeOf(t.grpc.listAuditEvents({ tenantId: "paging", pageSize: -1 }, admin()))).toBe(
      "INVALID_ARGUMENT",
    );
    expect(await codeOf(t.grpc.listAuditEvents({ tenantId: "paging", pageToken: "garbage" }, admin()))).toBe(
      "INVALID_ARGUMENT",
    );
    const page = await t.grpc.listAuditEvents({ tenantId: "paging", pageSize: 2 }, admin());
    expect(
      await codeOf(t.grpc.listAuditEvents({ tenantId: "acme", pageSize: 2, pageToken: page.nextPageToken }, admin())),
    ).toBe("INVALID_ARGUMENT");
  });

  it("filters by action and time range", async () => {
    const since = new Date();
    await t.grpc.getTenantPolicy({ tenantId: "filters" }, admin());
    await t.grpc.setTenantPolicy({ tenantId: "filters", hipaaEnabled: false }, admin());
    const sets = await t.grpc.listAuditEvents({ tenantId: "filters", action: AuditAction.POLICY_SET }, admin());
    expect(sets.events.map((e) => e.action)).toEqual([AuditAction.POLICY_SET]);
    const ts = (d: Date) => ({ seconds: BigInt(Math.floor(d.getTime() / 1000)), nanos: (d.getTime() % 1000) * 1e6 });
    const none = await t.grpc.listAuditEvents({ tenantId: "filters", until: ts(since) }, admin());
    expect(none.events).toEqual([]);
    const both = await t.grpc.listAuditEvents({ tenantId: "filters", since: ts(since) }, admin());
    // newest first: the audit.list events of the two listings above, then the policy calls
    expect(both.events.map((e) => e.action)).toEqual([
      AuditAction.AUDIT_LIST,
      AuditAction.AUDIT_LIST,
      AuditAction.POLICY_SET,
      AuditAction.POLICY_GET,
    ]);
  });
});

describe("filter times out of range", () => {
  // seconds = 2^62, and a year of 1.5e11: a Date of either is invalid. Before the fix the filter was
  // silently dropped and every event of the tenant came back.
  const far = [
    { seconds: 2n ** 62n, nanos: 0 },
    { seconds: 150_000_000_000n * 31_556_952n, nanos: 0 },
    { seconds: -(2n ** 62n), nanos: 0 },
    { seconds: 1n, nanos: -1 },
  ];
  it("are INVALID_ARGUMENT naming the field on gRPC, Connect (binary and JSON) and gRPC-Web; never an unfiltered page", async () => {
    await t.grpc.getTenantPolicy({ tenantId: "far-filters" }, admin());
    const clients = {
      grpc: createClient(TokenService, createGrpcTransport({ baseUrl: t.baseUrl })),
      "connect binary": createClient(
        TokenService,
        createConnectTransport({ baseUrl: t.baseUrl, httpVersion: "1.1", useBinaryFormat: true }),
      ),
      "grpc-web": createClient(TokenService, createGrpcWebTransport({ baseUrl: t.baseUrl, httpVersion: "1.1" })),
    };
    const headers = { authorization: `Bearer ${t.adminKey}` };
    const outcomes: Record<string, string> = {};
    for (const [name, client] of Object.entries(clients)) {
      for (const [i, ts] of far.entries()) {
        for (const field of ["since", "until"] as const) {
          outcomes[`${name} ${field} #${i}`] = await client
            .listAuditEvents({ tenantId: "far-filters", [field]: ts }, { headers })
            .then(
              (r) => `OK with ${r.events.length} events`,
              (e: ConnectError) => `${Code[e.code]}: ${e.rawMessage}`,
            );
        }
      }
    }
    for (const [what, outcome] of Object.entries(outcomes)) {
      const field = what.includes("since") ? "since" : "until";
      expect(outcome, what).toBe(`InvalidArgument: ${field}: must be a time between the years 1 and 9999`);
    }
    // Connect JSON: a time past year 9999 cannot even be written in RFC 3339; still refused, not dropped.
    const r = await fetch(`${t.baseUrl}/warpflow.auth.v1.TokenService/ListAuditEvents`, {
      method: "POST",
      headers: { ...headers, "content-type": "application/json" },
      body: JSON.stringify({ tenantId: "far-filters", since: "+150000000000-01-01T00:00:00Z" }),
    });
    expect(r.status).toBe(400);
    expect(((await r.json()) as { code: string }).code).toBe("invalid_argument");
    // In range still filters (the same call with a reasonable time answers).
    const ok = await clients.grpc.listAuditEvents(
      { tenantId: "far-filters", since: { seconds: 253_402_300_799n, nanos: 0 } },
      { headers },
    );
    expect(ok.events).toEqual([]);
  });
});

describe("revocable sessions", () => {
  it("RevokeSession: inactive REVOKED on the next Introspect; twice answers the same; another tenant's is NOT_FOUND", async () => {
    const s = await t.grpc.createSession({ tenantId: "acme" }, admin());
    expect((await t.grpc.introspect({ token: s.token })).active).toBe(true); // now cached
    expect(await codeOf(t.grpc.revokeSession({ tenantId: "globex", sessionId: s.sessionId }, admin()))).toBe(
      "NOT_FOUND",
    );
    expect((await t.grpc.introspect({ token: s.token })).active).toBe(true);
    const first = await t.grpc.revokeSession({ tenantId: "acme", sessionId: s.sessionId }, admin());
    expect(first.session).toMatchObject({ id: s.sessionId, tenantId: "acme", revokedBy: adminKeyId });
    expect(first.session!.revokedAt).toBeDefined();
    expect(await t.grpc.introspect({ token: s.token })).toMatchObject({
      active: false,
      inactiveReason: InactiveReason.REVOKED,
    });
    const again = await t.grpc.revokeSession({ tenantId: "acme", sessionId: s.sessionId }, admin());
    expect(again.session).toEqual(first.session);
    expect(await latest("acme", AuditAction.SESSION_REVOKE)).toMatchObject({ sessionId: s.sessionId, code: "OK" });
    expect(await codeOf(t.grpc.revokeSession({ tenantId: "acme", sessionId: "nope" }, admin()))).toBe(
      "INVALID_ARGUMENT",
    );
  });

  it("RevokeTenantSessions: every live session of the tenant at once, counted; later sessions and other tenants unaffected", async () => {
    const mine = [
      await t.grpc.createSession({ tenantId: "hooli" }, admin()),
      await t.grpc.createSession({ tenantId: "hooli" }, admin()),
    ];
    const other = await t.grpc.createSession({ tenantId: "piedpiper" }, admin());
    for (const s of mine) expect((await t.grpc.introspect({ token: s.token })).active).toBe(true);
    const r = await t.grpc.revokeTenantSessions({ tenantId: "hooli" }, admin());
    expect(r.revokedCount).toBe(2);
    for (const s of mine)
      expect(await t.grpc.introspect({ token: s.token })).toMatchObject({
        active: false,
        inactiveReason: InactiveReason.REVOKED,
      });
    expect((await t.grpc.introspect({ token: other.token })).active).toBe(true);
    const later = await t.grpc.createSession({ tenantId: "hooli" }, admin());
    expect((await t.grpc.introspect({ token: later.token })).active).toBe(true);
    expect(await latest("hooli", AuditAction.SESSIONS_REVOKE_ALL)).toMatchObject({
      code: "OK",
      detail: "revoked 2 sessions",
    });
    expect((await t.grpc.revokeTenantSessions({ tenantId: "hooli" }, admin())).revokedCount).toBe(1);
  });
});

describe("session revocation reaches every instance (embedded store: within the cache TTL)", () => {
  it("an instance that cached the session active sees it revoked within CACHE_TTL_MS", async () => {
    const shared = createMemoryTokenStore();
    const a = await startTestApp({ store: shared, env: { CACHE_TTL_MS: "300" } });
    const b = await startTestApp({ store: shared, env: { CACHE_TTL_MS: "300" } });
    try {
      const s = await a.grpc.createSession({ tenantId: "acme" }, { bearer: a.adminKey });
      expect((await b.grpc.introspect({ token: s.token })).active).toBe(true); // cached on b
      await a.grpc.revokeSession({ tenantId: "acme", sessionId: s.sessionId }, { bearer: a.adminKey });
      const revokedAt = Date.now();
      const seen = await until(
        () => b.grpc.introspect({ token: s.token }),
        (r) => !r.active,
        2000,
      );
      expect(seen).toMatchObject({ active: false, inactiveReason: InactiveReason.REVOKED });
      expect(Date.now() - revokedAt).toBeLessThan(300 + 250);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
