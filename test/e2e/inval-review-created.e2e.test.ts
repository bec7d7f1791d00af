import { afterEach, describe, expect, it } from "vitest";
import { createMemoryTokenStore } from "../../src/adapters/memory/memory-token-store.js";
import { InactiveReason, InvalidationKind } from "../../src/gen/warpflow/auth/v1/token_service_pb.js";
import { generateToken } from "../../src/domain/token-format.js";
import { hashToken } from "../../src/domain/token-hash.js";
import { newKeyId } from "../../src/domain/key-rules.js";
import type { StoreChange, StoreChangeFeed } from "../../src/ports/store-changes.js";
import { useTestApp } from "../support/test-app.js";
import { watchGrpc, type Watch } from "../support/watch-client.js";

/**
 * Review (invalidation stream): KEY_CREATED / SESSION_CREATED exist "so negative cache entries for
 * a token that now exists are dropped". The client drops its NOT_FOUND entries and asks again; the
 * server must then answer from the store, not from its own negative cache entry (CACHE_TTL_MS),
 * else the client caches NOT_FOUND again, for maxAgeMs (5 min) while the stream is healthy.
 */
const open: Watch[] = [];
afterEach(() => open.splice(0).forEach((w) => w.cancel()));

describe("review: a creation seen on the change feed drops the server's own negative entries", () => {
  const listeners = new Set<(c: StoreChange) => void>();
  const feed: StoreChangeFeed = {
    subscribe: (l) => (listeners.add(l), () => listeners.delete(l)),
    status: () => ({ state: "live", reopenings: 0 }),
  };
  const emit = (c: StoreChange) => listeners.forEach((l) => l(c));
  const store = createMemoryTokenStore();
  // CACHE_TTL_MS long enough that the test never races the negative entry's own expiry.
  const t = useTestApp({ store, changes: feed, env: { CACHE_TTL_MS: "30000", WATCH_HEARTBEAT_MS: "50" }, logLevel: "warn" });

  it("a key inserted by another instance: after KEY_CREATED the server answers it active, not NOT_FOUND from its cache", async () => {
    const w = watchGrpc(t.address);
    open.push(w);
    await w.until((m) => m.event.case === "heartbeat");
    // A token asked about before its key exists (e.g. an operator-supplied ADMIN_KEY_FILE key that
    // another instance registers): NOT_FOUND, cached by this server.
    const token = generateToken("api_key", "acme");
    expect((await t.grpc.introspect({ token })).inactiveReason).toBe(InactiveReason.NOT_FOUND);
    // Another instance stores the key; this instance's feed sees the insert.
    const id = newKeyId();
    const r = await store.insertKey(
      {
        id,
        tenantId: "acme",
        label: "elsewhere",
        tokenHash: hashToken(token),
        hint: "x",
        status: "active",
        createdAt: new Date(),
        createdBy: "test",
      },
      3,
    );
    expect(r.ok).toBe(true);
    emit({ kind: "key_created", keyId: id, tenantId: "acme" });
    await w.until((m) => m.event.case === "invalidation" && m.event.value.kind === InvalidationKind.KEY_CREATED);
    // What a client asks after dropping its NOT_FOUND entry:
    const again = await t.grpc.introspect({ token });
    expect(again.active).toBe(true);
    expect(again.keyId).toBe(id);
  });

  it("a session inserted by another instance: after SESSION_CREATED the server answers it active", async () => {
    const token = generateToken("session", "acme");
    expect((await t.grpc.introspect({ token })).inactiveReason).toBe(InactiveReason.NOT_FOUND);
    const id = "ses_" + "a".repeat(20);
    const now = new Date();
    await store.insertSession({
      id,
      tenantId: "acme",
      tokenHash: hashToken(token),
      createdAt: now,
      expiresAt: new Date(now.getTime() + 3_600_000),
      createdBy: "test",
    });
    emit({ kind: "session_created", sessionId: id, tenantId: "acme" });
    const again = await t.grpc.introspect({ token });
    expect(again.active).toBe(true);
  });
});
