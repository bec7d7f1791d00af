import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { afterEach, describe, expect, it } from "vitest";
import { InvalidationKind, ResetReason } from "../../src/gen/warpflow/auth/v1/token_service_pb.js";
import { useTestApp } from "../support/test-app.js";
import { watchConnect, watchGrpc, type Watch } from "../support/watch-client.js";

const t = useTestApp({ env: { WATCH_HEARTBEAT_MS: "100" } });
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
