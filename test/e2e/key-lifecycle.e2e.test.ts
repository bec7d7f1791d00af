// Issue 22 end to end over real gRPC (grpc-js client, real server on port 0, injected clock):
// expiry at the exact instant through the cached-bytes fast path, the tenant maximum and its
// refusal, SetTenantPolicy's update mask, the rotation grace, suspend and resume (with the
// WatchInvalidations stream, the audit trail and the 3-key limit), and `key.expired` recorded once
// by two replicas sweeping one store.
import { durationFromMs, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { afterEach, describe, expect, it } from "vitest";
import { createMemoryTokenStore } from "../../src/adapters/memory/memory-token-store.js";
import {
  AuditAction,
  InactiveReason,
  InvalidationKind,
  KeyStatus,
} from "../../src/gen/warpflow/auth/v1/token_service_pb.js";
import { httpRequest } from "../support/authz.js";
import { failureOf } from "../support/codes.js";
import { createManualClock, HOUR } from "../support/manual-clock.js";
import { waitUntil } from "../support/poll.js";
import { startTestApp, useTestApp } from "../support/test-app.js";
import { watchGrpc, type Watch } from "../support/watch-client.js";

const DAY = 24 * HOUR;
const clock = createManualClock(new Date());
const t = useTestApp({ clock, env: { SWEEP_INTERVAL_MS: "100" } });
const admin = () => ({ bearer: t.adminKey });
const ms = (ts: { seconds: bigint; nanos: number } | undefined) => Number(ts!.seconds) * 1000 + ts!.nanos / 1e6;
const open: Watch[] = [];
afterEach(() => open.splice(0).forEach((w) => w.cancel()));

describe("issue 22 over gRPC", () => {
  it("a key with expires_in is active until exactly then (fast path included), then EXPIRED; ListKeys and Introspect show expires_at", async () => {
    const created = await t.grpc.createKey(
      { tenantId: "exp-a", label: "short", expiry: { case: "expiresIn", value: durationFromMs(HOUR) } },
      admin(),
    );
    const expiresAt = clock.now().getTime() + HOUR;
    expect(ms(created.key!.expiresAt)).toBe(expiresAt);
    const first = await t.grpc.introspect({ token: created.token });
    expect(first).toMatchObject({ active: true, keyId: created.key!.id });
    expect(ms(first.expiresAt)).toBe(expiresAt);
    clock.advance(HOUR - 1);
    // Cached now: answered from the memo's bytes.
    expect(await t.grpc.introspect({ token: created.token })).toMatchObject({ active: true });
    clock.advance(1);
    expect(await t.grpc.introspect({ token: created.token })).toMatchObject({
      active: false,
      inactiveReason: InactiveReason.EXPIRED,
    });
    const listed = (await t.grpc.listKeys({ tenantId: "exp-a" }, admin())).keys[0]!;
    expect(ms(listed.expiresAt)).toBe(expiresAt);
    expect(listed.status).toBe(KeyStatus.REVOKED);
    // key.expired, once, by the sweep (SWEEP_INTERVAL_MS 100).
    await waitUntil(
      async () =>
        (await t.grpc.listAuditEvents({ tenantId: "exp-a", action: AuditAction.KEY_EXPIRED }, admin())).events
          .length === 1,
      5000,
    );
  });

  it("the tenant maximum: set without touching hipaa_enabled; a longer expiry is refused naming it; none gets it", async () => {
    await t.grpc.setTenantPolicy({ tenantId: "exp-b", hipaaEnabled: false }, admin());
    const set = await t.grpc.setTenantPolicy(
      {
        tenantId: "exp-b",
        maxKeyLifetime: durationFromMs(30 * DAY),
        updateMask: { paths: ["max_key_lifetime"] },
        hipaaEnabled: true, // not in the mask: ignored
      },
      admin(),
    );
    expect(set.policy).toMatchObject({ hipaaEnabled: false, maxKeyLifetime: { seconds: BigInt(30 * 24 * 3600) } });
    const tooLong = new Date(clock.now().getTime() + 31 * DAY);
    const refused = await failureOf(
      t.grpc.createKey(
        { tenantId: "exp-b", label: "x", expiry: { case: "expiresAt", value: timestampFromDate(tooLong) } },
        admin(),
      ),
    );
    expect(refused.code).toBe("INVALID_ARGUMENT");
    expect(refused.details).toMatch(/^expires_at: .*max_key_lifetime of 30d/);
    expect(refused.details).not.toContain(tooLong.toISOString().slice(0, 10));
    const dflt = await t.grpc.createKey({ tenantId: "exp-b", label: "default" }, admin());
    expect(ms(dflt.key!.expiresAt)).toBe(clock.now().getTime() + 30 * DAY);
    // The old request shape (no mask, no maximum) sets HIPAA and keeps the maximum.
    const legacy = await t.grpc.setTenantPolicy({ tenantId: "exp-b", hipaaEnabled: false }, admin());
    expect(legacy.policy!.maxKeyLifetime?.seconds).toBe(BigInt(30 * 24 * 3600));
    const read = await t.grpc.getTenantPolicy({ tenantId: "exp-b" }, admin());
    expect(read.policy!.maxKeyLifetime?.seconds).toBe(BigInt(30 * 24 * 3600));
  });

  it("a maximum set without a mask never turns HIPAA off (proto3 false = not given); with hipaa_enabled true both are set (attack finding)", async () => {
    await t.grpc.setTenantPolicy({ tenantId: "exp-h", hipaaEnabled: true }, admin());
    const onlyMax = await t.grpc.setTenantPolicy(
      { tenantId: "exp-h", maxKeyLifetime: durationFromMs(30 * DAY) },
      admin(),
    );
    expect(onlyMax.policy).toMatchObject({ hipaaEnabled: true, maxKeyLifetime: { seconds: BigInt(30 * 24 * 3600) } });
    // The same over Connect JSON, as a hand-written client would send it.
    const json = await httpRequest(t.port, "/warpflow.auth.v1.TokenService/SetTenantPolicy", {
      method: "POST",
      headers: { authorization: `Bearer ${t.adminKey}`, "content-type": "application/json" },
      body: JSON.stringify({ tenantId: "exp-h", maxKeyLifetime: "86400s" }),
    });
    expect([json.status, JSON.parse(json.body).policy.hipaaEnabled]).toEqual([200, true]);
    const both = await t.grpc.setTenantPolicy(
      { tenantId: "exp-i", hipaaEnabled: true, maxKeyLifetime: durationFromMs(DAY) },
      admin(),
    );
    expect(both.policy).toMatchObject({ hipaaEnabled: true, maxKeyLifetime: { seconds: 86400n } });
    // Turning HIPAA off stays possible: the old shape, or a mask naming it.
    expect(
      (await t.grpc.setTenantPolicy({ tenantId: "exp-h", hipaaEnabled: false }, admin())).policy!.hipaaEnabled,
    ).toBe(false);
  });

  it("RotateKey grace: 24 h ends exactly then; 0 revokes at once (a cached answer included); 73 h is refused", async () => {
    const a = await t.grpc.createKey({ tenantId: "exp-c", label: "g" }, admin());
    const r = await t.grpc.rotateKey(
      { tenantId: "exp-c", keyId: a.key!.id, grace: durationFromMs(24 * HOUR) },
      admin(),
    );
    expect(ms(r.previousKey!.revokeAt) - ms(r.key!.createdAt)).toBe(24 * HOUR);
    await t.grpc.introspect({ token: r.token }); // cached
    const z = await t.grpc.rotateKey({ tenantId: "exp-c", keyId: r.key!.id, grace: durationFromMs(0) }, admin());
    expect(z.previousKey!.status).toBe(KeyStatus.REVOKED);
    expect(await t.grpc.introspect({ token: r.token })).toMatchObject({
      active: false,
      inactiveReason: InactiveReason.REVOKED,
    });
    const bad = await failureOf(
      t.grpc.rotateKey({ tenantId: "exp-c", keyId: z.key!.id, grace: durationFromMs(73 * HOUR) }, admin()),
    );
    expect(bad).toEqual({ code: "INVALID_ARGUMENT", details: "grace: must be between 0 and 3d" });
  });

  it("RotateKey retire_on_first_use with grace 0 is accepted and ignored (README): the old key is revoked at once", async () => {
    const a = await t.grpc.createKey({ tenantId: "exp-r0", label: "r0" }, admin());
    const r = await t.grpc.rotateKey(
      { tenantId: "exp-r0", keyId: a.key!.id, grace: durationFromMs(0), retireOnFirstUse: true },
      admin(),
    );
    expect(r.previousKey!.status).toBe(KeyStatus.REVOKED);
    expect(r.key!.retireOnFirstUse).toBe(false);
    expect(await t.grpc.introspect({ token: a.token })).toMatchObject({ inactiveReason: InactiveReason.REVOKED });
    expect(await t.grpc.introspect({ token: r.token })).toMatchObject({ active: true });
  });

  it("RotateKey retire_on_first_use: the old key works until the new key's first introspection, then is revoked", async () => {
    const a = await t.grpc.createKey({ tenantId: "exp-r", label: "r" }, admin());
    const r = await t.grpc.rotateKey({ tenantId: "exp-r", keyId: a.key!.id, retireOnFirstUse: true }, admin());
    expect(r.key!.retireOnFirstUse).toBe(true);
    expect(await t.grpc.introspect({ token: a.token })).toMatchObject({ active: true, deprecated: true });
    expect(await t.grpc.introspect({ token: a.token })).toMatchObject({ active: true, deprecated: true }); // cached
    expect(await t.grpc.introspect({ token: r.token })).toMatchObject({ active: true });
    await waitUntil(async () => !(await t.grpc.introspect({ token: a.token })).active, 3000, "old key retired");
    expect(await t.grpc.introspect({ token: a.token })).toMatchObject({ inactiveReason: InactiveReason.REVOKED });
    const keys = (await t.grpc.listKeys({ tenantId: "exp-r" }, admin())).keys;
    expect(keys.find((k) => k.id === a.key!.id)).toMatchObject({
      status: KeyStatus.REVOKED,
      revokedBy: "system:retired-on-first-use",
    });
    expect(keys.find((k) => k.id === r.key!.id)!.retireOnFirstUse).toBe(false);
    const events = (await t.grpc.listAuditEvents({ tenantId: "exp-r", action: AuditAction.KEY_GRACE_EXPIRED }, admin()))
      .events;
    expect(events.map((e) => e.keyId)).toEqual([a.key!.id]);
  });

  it("SuspendKey / ResumeKey: inactive at once (cached answer dropped), told to watchers, audited, still holding a place; a revoked key is never resumed", async () => {
    const w = watchGrpc(t.address);
    open.push(w);
    await w.until((m) => m.event.case === "heartbeat", 5000, "first heartbeat");
    const keys = [];
    for (const label of ["a", "b", "c"]) keys.push(await t.grpc.createKey({ tenantId: "exp-d", label }, admin()));
    const k = keys[0]!;
    await t.grpc.introspect({ token: k.token });
    await t.grpc.introspect({ token: k.token }); // served from the cached bytes
    const s = await t.grpc.suspendKey({ tenantId: "exp-d", keyId: k.key!.id }, admin());
    expect(s.key!.suspendedAt).toBeDefined();
    expect(s.key!.suspendedBy).toBe(k.key!.createdBy);
    expect(await t.grpc.introspect({ token: k.token })).toMatchObject({
      active: false,
      inactiveReason: InactiveReason.SUSPENDED,
    });
    const isKind = (kind: InvalidationKind) => (m: Watch["messages"][number]) =>
      m.event.case === "invalidation" && m.event.value.kind === kind && m.event.value.keyId === k.key!.id;
    await w.until(isKind(InvalidationKind.KEY_SUSPENDED), 5000, "KEY_SUSPENDED");
    // Still one of the 3 active keys.
    expect((await failureOf(t.grpc.createKey({ tenantId: "exp-d", label: "d" }, admin()))).code).toBe(
      "RESOURCE_EXHAUSTED",
    );
    const listed = (await t.grpc.listKeys({ tenantId: "exp-d" }, admin())).keys.find((x) => x.id === k.key!.id)!;
    expect(listed.status).toBe(KeyStatus.ACTIVE);
    expect(listed.suspendedAt).toBeDefined();
    const r = await t.grpc.resumeKey({ tenantId: "exp-d", keyId: k.key!.id }, admin());
    expect(r.key!.suspendedAt).toBeUndefined();
    await w.until(isKind(InvalidationKind.KEY_RESUMED), 5000, "KEY_RESUMED");
    expect(await t.grpc.introspect({ token: k.token })).toMatchObject({ active: true });
    const actions = (await t.grpc.listAuditEvents({ tenantId: "exp-d" }, admin())).events.map((e) => e.action);
    expect(actions).toContain(AuditAction.KEY_SUSPEND);
    expect(actions).toContain(AuditAction.KEY_RESUME);
    await t.grpc.suspendKey({ tenantId: "exp-d", keyId: k.key!.id }, admin());
    await t.grpc.revokeKey({ tenantId: "exp-d", keyId: k.key!.id }, admin());
    const never = await failureOf(t.grpc.resumeKey({ tenantId: "exp-d", keyId: k.key!.id }, admin()));
    expect(never.code).toBe("FAILED_PRECONDITION");
    expect(never.details).toMatch(/revoked key can never be resumed/);
  });

  it("Connect JSON (HTTP/1.1): expiresIn as a JSON duration, updateMask as a JSON field mask, SuspendKey", async () => {
    const post = async (method: string, body: object) => {
      const r = await fetch(`${t.baseUrl}/warpflow.auth.v1.TokenService/${method}`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${t.adminKey}` },
        body: JSON.stringify(body),
      });
      return { status: r.status, json: (await r.json()) as Record<string, unknown> };
    };
    const policy = await post("SetTenantPolicy", {
      tenantId: "exp-j",
      maxKeyLifetime: "86400s",
      updateMask: "maxKeyLifetime",
    });
    expect(policy).toMatchObject({ status: 200, json: { policy: { maxKeyLifetime: "86400s" } } });
    const created = await post("CreateKey", { tenantId: "exp-j", label: "json", expiresIn: "3600s" });
    expect(created.status).toBe(200);
    const key = created.json["key"] as { id: string; expiresAt: string; createdAt: string };
    expect(Date.parse(key.expiresAt) - Date.parse(key.createdAt)).toBe(3_600_000);
    const tooLong = await post("CreateKey", { tenantId: "exp-j", label: "json", expiresIn: "90000s" });
    expect(tooLong).toMatchObject({ status: 400, json: { code: "invalid_argument" } });
    expect(String(tooLong.json["message"])).toMatch(/^expires_in: .*max_key_lifetime of 1d/);
    const suspended = await post("SuspendKey", { tenantId: "exp-j", keyId: key.id });
    expect((suspended.json["key"] as { suspendedAt?: string }).suspendedAt).toBeDefined();
  });

  it("every new field's bad value is INVALID_ARGUMENT naming the field, never echoing the value", async () => {
    const k = await t.grpc.createKey({ tenantId: "exp-e", label: "v" }, admin());
    const cases: [string, Promise<unknown>][] = [
      [
        "expires_at",
        t.grpc.createKey(
          {
            tenantId: "exp-e",
            label: "x",
            expiry: { case: "expiresAt", value: { seconds: 987654321987654n, nanos: 0 } },
          },
          admin(),
        ),
      ],
      [
        "expires_at",
        t.grpc.createKey(
          { tenantId: "exp-e", label: "x", expiry: { case: "expiresAt", value: { seconds: 1n, nanos: 0 } } },
          admin(),
        ),
      ],
      [
        "expires_in",
        t.grpc.createKey(
          { tenantId: "exp-e", label: "x", expiry: { case: "expiresIn", value: { seconds: -987654n, nanos: 0 } } },
          admin(),
        ),
      ],
      [
        "expires_in",
        t.grpc.createKey(
          { tenantId: "exp-e", label: "x", expiry: { case: "expiresIn", value: { seconds: 987654321987n, nanos: 0 } } },
          admin(),
        ),
      ],
      [
        "grace",
        t.grpc.rotateKey({ tenantId: "exp-e", keyId: k.key!.id, grace: { seconds: -987654n, nanos: 0 } }, admin()),
      ],
      [
        "successor_expires_in",
        t.grpc.rotateKey(
          {
            tenantId: "exp-e",
            keyId: k.key!.id,
            successorExpiry: { case: "successorExpiresIn", value: { seconds: 0n, nanos: 987654 } },
          },
          admin(),
        ),
      ],
      [
        "max_key_lifetime",
        t.grpc.setTenantPolicy({ tenantId: "exp-e", maxKeyLifetime: { seconds: 987654321987n, nanos: 0 } }, admin()),
      ],
      [
        "update_mask",
        t.grpc.setTenantPolicy(
          { tenantId: "exp-e", updateMask: { paths: ["hipaa_enabled", "wf_secret_987654"] } },
          admin(),
        ),
      ],
      ["key_id", t.grpc.suspendKey({ tenantId: "exp-e", keyId: "key_987654<script>" }, admin())],
      // The admin tenant's keys are not suspended (revoked instead): see key-lifecycle-handlers.ts.
      ["tenant_id", t.grpc.suspendKey({ tenantId: "admin", keyId: k.key!.id }, admin())],
    ];
    for (const [field, call] of cases) {
      const f = await failureOf(call);
      expect(f.code, field).toBe("INVALID_ARGUMENT");
      expect(f.details.startsWith(`${field}: `), f.details).toBe(true);
      expect(f.details).not.toMatch(/987654|script|secret/);
    }
    // Nothing changed: the key was not rotated.
    expect((await t.grpc.listKeys({ tenantId: "exp-e" }, admin())).keys).toHaveLength(1);
  });
});

describe("key.expired across replicas", () => {
  const apps: Awaited<ReturnType<typeof startTestApp>>[] = [];
  afterEach(async () => {
    for (const a of apps.splice(0)) await a.close();
  });

  it("CreateKey at the 3-key limit frees the places of keys that expired since the last sweep (no sweep ran)", async () => {
    const c = createManualClock(new Date());
    const app = await startTestApp({ clock: c, env: { SWEEP_INTERVAL_MS: "86400000" }, logLevel: "warn" });
    apps.push(app);
    const auth = { bearer: app.adminKey };
    for (const label of ["x", "y"]) {
      await app.grpc.createKey(
        { tenantId: "exp-g", label, expiry: { case: "expiresIn", value: durationFromMs(HOUR) } },
        auth,
      );
    }
    await app.grpc.createKey({ tenantId: "exp-g", label: "z" }, auth);
    expect((await failureOf(app.grpc.createKey({ tenantId: "exp-g", label: "w" }, auth))).code).toBe(
      "RESOURCE_EXHAUSTED",
    );
    c.advance(HOUR);
    expect((await app.grpc.createKey({ tenantId: "exp-g", label: "w" }, auth)).key!.status).toBe(KeyStatus.ACTIVE);
    const events = (await app.grpc.listAuditEvents({ tenantId: "exp-g", action: AuditAction.KEY_EXPIRED }, auth))
      .events;
    expect(events).toHaveLength(2);
  });

  it("two instances sweeping one store record key.expired exactly once per key", async () => {
    const store = createMemoryTokenStore();
    const shared = createManualClock(new Date());
    for (let i = 0; i < 2; i++) {
      apps.push(await startTestApp({ store, clock: shared, env: { SWEEP_INTERVAL_MS: "100" }, logLevel: "warn" }));
    }
    const [a, b] = apps as [(typeof apps)[number], (typeof apps)[number]];
    const ids: string[] = [];
    for (const label of ["x", "y", "z"]) {
      const k = await a.grpc.createKey(
        { tenantId: "exp-f", label, expiry: { case: "expiresIn", value: durationFromMs(HOUR) } },
        { bearer: a.adminKey },
      );
      ids.push(k.key!.id);
    }
    shared.advance(HOUR);
    const expired = async () =>
      (await b.grpc.listAuditEvents({ tenantId: "exp-f", action: AuditAction.KEY_EXPIRED }, { bearer: a.adminKey }))
        .events;
    await waitUntil(async () => (await expired()).length >= 3, 5000);
    await new Promise((r) => setTimeout(r, 300)); // several more sweeps of both instances
    expect((await expired()).map((e) => e.keyId).sort()).toEqual(ids.sort());
  });
});
