import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { afterEach, describe, expect, it } from "vitest";
import { toBinary } from "@bufbuild/protobuf";
import {
  InvalidationKind,
  ResetReason,
  WatchInvalidationsResponseSchema,
} from "../../src/gen/warpflow/auth/v1/token_service_pb.js";
import { createManualClock, HOUR } from "../support/manual-clock.js";
import { metricsText, samples } from "../support/probes.js";
import { useTestApp } from "../support/test-app.js";
import { hashToken } from "../../src/domain/token-hash.js";
import { waitUntil } from "../support/poll.js";
import { watchConnect, watchGrpc, type Watch } from "../support/watch-client.js";

const clock = createManualClock(new Date());
const t = useTestApp({
  clock,
  env: { WATCH_HEARTBEAT_MS: "100", SWEEP_INTERVAL_MS: "100", WATCH_REPLAY_BUFFER: "20" },
});
const admin = () => ({ bearer: t.adminKey });
const open: Watch[] = [];
afterEach(() => open.splice(0).forEach((w) => w.cancel()));
const track = (w: Watch) => (open.push(w), w);

const isInvalidation = (kind: InvalidationKind, id: string) => (m: Watch["messages"][number]) =>
  m.event.case === "invalidation" &&
  m.event.value.kind === kind &&
  (m.event.value.keyId === id || m.event.value.sessionId === id || m.event.value.tenantId === id);

const transports = [
  ["gRPC (grpc-js)", () => watchGrpc(t.address)],
  ["Connect HTTP/1.1", () => watchConnect(createConnectTransport({ baseUrl: t.baseUrl, httpVersion: "1.1" }))],
  ["Connect HTTP/2", () => watchConnect(createConnectTransport({ baseUrl: t.baseUrl, httpVersion: "2" }))],
  ["gRPC-Web HTTP/1.1", () => watchConnect(createGrpcWebTransport({ baseUrl: t.baseUrl, httpVersion: "1.1" }))],
  ["gRPC-Web HTTP/2", () => watchConnect(createGrpcWebTransport({ baseUrl: t.baseUrl, httpVersion: "2" }))],
] as const;

describe.each(transports)("WatchInvalidations over %s", (_, start) => {
  it("starts with a START reset and a heartbeat, then sends a revoke's invalidation", async () => {
    const w = track(start());
    await w.until((m) => m.event.case === "heartbeat", 5000, "first heartbeat");
    expect(w.messages[0]!.event).toEqual({
      case: "reset",
      value: expect.objectContaining({ reason: ResetReason.START }),
    });
    const hb = w.messages[1]!;
    expect(hb.event.case).toBe("heartbeat");
    if (hb.event.case === "heartbeat") {
      expect(hb.event.value.complete).toBe(true);
      expect(hb.event.value.intervalMs).toBe(100);
    }
    const { key } = await t.grpc.createKey({ tenantId: "acme", label: "w" }, { bearer: t.adminKey });
    await t.grpc.revokeKey({ tenantId: "acme", keyId: key!.id }, { bearer: t.adminKey });
    const created = await w.until(isInvalidation(InvalidationKind.KEY_CREATED, key!.id));
    const revoked = await w.until(isInvalidation(InvalidationKind.KEY_REVOKED, key!.id));
    expect(revoked.sequence).toBe(created.sequence + 1n);
    expect(revoked.event.value).toMatchObject({ tenantId: "acme", keyId: key!.id, sessionId: "" });
    expect(revoked.instanceId).toBe(w.messages[0]!.instanceId);
  });
});

type Msg = Watch["messages"][number];
const invalidations = (w: Watch) =>
  w.messages.flatMap((m) => (m.event.case === "invalidation" ? [{ sequence: m.sequence, ...m.event.value }] : []));
const kindsAfter = (w: Watch, seq: bigint) =>
  invalidations(w)
    .filter((i) => i.sequence > seq)
    .map(({ kind, tenantId, keyId, sessionId }) => ({ kind, tenantId, keyId, sessionId }));
const lastSequence = (w: Watch) => w.messages.at(-1)!.sequence;
const heartbeatAfter = async (w: Watch, seq: bigint) =>
  w.until((m: Msg) => m.event.case === "heartbeat" && m.sequence >= seq, 5000, `heartbeat at ${seq}`);

describe("every change that can turn a cached answer wrong is one invalidation, in order, ids only", () => {
  it("CreateKey, RotateKey, RevokeKey, the grace sweep, CreateSession, RevokeSession, RevokeTenantSessions, SetTenantPolicy", async () => {
    const w = track(watchGrpc(t.address));
    await w.until((m) => m.event.case === "heartbeat");
    const before = lastSequence(w);
    const secrets: string[] = [];
    const a = await t.grpc.createKey({ tenantId: "kinds", label: "a" }, admin());
    const b = await t.grpc.createKey({ tenantId: "kinds", label: "b" }, admin());
    const rotated = await t.grpc.rotateKey({ tenantId: "kinds", keyId: a.key!.id }, admin());
    await t.grpc.revokeKey({ tenantId: "kinds", keyId: b.key!.id }, admin());
    const s1 = await t.grpc.createSession({ tenantId: "kinds" }, admin());
    const s2 = await t.grpc.createSession({ tenantId: "kinds" }, admin());
    await t.grpc.revokeSession({ tenantId: "kinds", sessionId: s1.sessionId }, admin());
    await t.grpc.revokeTenantSessions({ tenantId: "kinds" }, admin());
    await t.grpc.setTenantPolicy({ tenantId: "kinds", hipaaEnabled: false }, admin());
    secrets.push(a.token, b.token, rotated.token, s1.token, s2.token);
    await w.until(
      (m) => m.event.case === "invalidation" && m.event.value.kind === InvalidationKind.TENANT_POLICY_CHANGED,
    );
    const K = InvalidationKind;
    const inv = (kind: InvalidationKind, ids: { keyId?: string; sessionId?: string }) => ({
      kind,
      tenantId: "kinds",
      keyId: ids.keyId ?? "",
      sessionId: ids.sessionId ?? "",
    });
    expect(kindsAfter(w, before)).toEqual([
      inv(K.KEY_CREATED, { keyId: a.key!.id }),
      inv(K.KEY_CREATED, { keyId: b.key!.id }),
      inv(K.KEY_ROTATED, { keyId: a.key!.id }),
      inv(K.KEY_CREATED, { keyId: rotated.key!.id }),
      inv(K.KEY_REVOKED, { keyId: b.key!.id }),
      inv(K.SESSION_CREATED, { sessionId: s1.sessionId }),
      inv(K.SESSION_CREATED, { sessionId: s2.sessionId }),
      inv(K.SESSION_REVOKED, { sessionId: s1.sessionId }),
      { kind: K.TENANT_SESSIONS_REVOKED, tenantId: "kinds", keyId: "", sessionId: "" },
      { kind: K.TENANT_POLICY_CHANGED, tenantId: "kinds", keyId: "", sessionId: "" },
    ]);
    // A local SetTenantPolicy knows the new policy: the flag is set (false here, not absent).
    expect(invalidations(w).at(-1)).toMatchObject({ kind: K.TENANT_POLICY_CHANGED, hipaaEnabled: false });
    expect(
      invalidations(w)
        .slice(0, -1)
        .every((i) => i.hipaaEnabled === undefined),
    ).toBe(true);
    // Numbered 1, 2, 3, ... without a gap, continuing the START reset's sequence.
    const seqs = invalidations(w).map((i) => i.sequence);
    expect(seqs).toEqual(seqs.map((_, i) => seqs[0]! + BigInt(i)));
    expect(seqs[0]).toBe(w.messages[0]!.sequence + 1n);

    // The grace sweep: 72 hours later the rotated key's grace ends.
    clock.advance(73 * HOUR);
    const ended = await w.until(
      (m) => m.event.case === "invalidation" && m.event.value.kind === K.KEY_GRACE_ENDED,
      5000,
      "grace ended",
    );
    expect(ended.event.value).toMatchObject({ tenantId: "kinds", keyId: a.key!.id, sessionId: "" });

    // Ids only: no token and no token hash in any byte that went out.
    const wire = Buffer.concat(
      w.messages.map((m) => Buffer.from(toBinary(WatchInvalidationsResponseSchema, m))),
    ).toString("latin1");
    for (const s of secrets) {
      expect(wire).not.toContain(s);
      expect(wire).not.toContain(hashToken(s));
    }
  });
});

describe("resume", () => {
  it("replays what followed the last sequence seen (no reset), then a heartbeat, then live", async () => {
    const first = track(watchGrpc(t.address));
    await first.until((m) => m.event.case === "heartbeat");
    await t.grpc.createSession({ tenantId: "resume" }, admin());
    await first.until((m) => m.event.case === "invalidation" && m.event.value.tenantId === "resume");
    const instance = first.messages[0]!.instanceId;
    const seen = lastSequence(first);
    first.cancel();
    const missed = [
      await t.grpc.createSession({ tenantId: "resume" }, admin()),
      await t.grpc.createSession({ tenantId: "resume" }, admin()),
    ];
    const again = track(watchGrpc(t.address, { resumeInstanceId: instance, resumeAfterSequence: seen }));
    await heartbeatAfter(again, seen + 2n);
    expect(again.messages.slice(0, 3).map((m) => [m.event.case, m.sequence])).toEqual([
      ["invalidation", seen + 1n],
      ["invalidation", seen + 2n],
      ["heartbeat", seen + 2n],
    ]);
    expect(invalidations(again).map((i) => i.sessionId)).toEqual(missed.map((s) => s.sessionId));
    const live = await t.grpc.createSession({ tenantId: "resume" }, admin());
    const next = await again.until(
      (m) => m.event.case === "invalidation" && m.event.value.sessionId === live.sessionId,
    );
    expect(next.sequence).toBe(seen + 3n);
  });

  it("a resume point older than the replay buffer, from another instance, or never numbered is a GAP reset", async () => {
    const w = track(watchGrpc(t.address));
    await w.until((m) => m.event.case === "heartbeat");
    const instance = w.messages[0]!.instanceId;
    const old = lastSequence(w);
    for (let i = 0; i < 25; i++) await t.grpc.createSession({ tenantId: "gap" }, admin()); // WATCH_REPLAY_BUFFER 20 (+1/8)
    await w.until((m) => m.sequence >= old + 25n);
    const latest = old + 25n;
    for (const [resumeInstanceId, resumeAfterSequence] of [
      [instance, old],
      ["an-instance-before-a-restart", latest],
      [instance, latest + 1n],
    ] as const) {
      const g = track(watchGrpc(t.address, { resumeInstanceId, resumeAfterSequence }));
      await g.until((m) => m.event.case === "heartbeat");
      expect(g.messages[0], `${resumeInstanceId} ${resumeAfterSequence}`).toMatchObject({
        instanceId: instance,
        sequence: latest,
        event: { case: "reset", value: { reason: ResetReason.GAP } },
      });
      expect(g.messages[1]!.event.case).toBe("heartbeat");
    }
  });
});

describe("metrics", () => {
  it("warpflow_watchers counts open watches; warpflow_invalidations_total the numbered events", async () => {
    const metric = async (name: string) => samples(await metricsText(t.baseUrl), name)[0];
    const w = track(watchGrpc(t.address));
    await w.until((m) => m.event.case === "heartbeat");
    // (Watches of earlier tests were cancelled; the server may still be taking them out.)
    await waitUntil(async () => (await metric("warpflow_watchers")) === 1, 5000, "one watcher");
    expect(await metric("warpflow_invalidations_total")).toBeGreaterThanOrEqual(Number(w.messages[0]!.sequence));
    await t.grpc.createSession({ tenantId: "metrics" }, admin());
    const created = await w.until((m) => m.event.case === "invalidation" && m.event.value.tenantId === "metrics");
    expect(await metric("warpflow_invalidations_total")).toBeGreaterThanOrEqual(Number(created.sequence));
    w.cancel();
    await waitUntil(async () => (await metric("warpflow_watchers")) === 0, 5000, "no watcher left");
  });
});
