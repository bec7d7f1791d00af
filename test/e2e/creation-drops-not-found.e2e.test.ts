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
 * KEY_CREATED / SESSION_CREATED exist "so negative cache entries for
 * a token that now exists are dropped". The client drops its NOT_FOUND entries and asks again; the
 * server must then answer from the store, not from its own negative cache entry (CACHE_TTL_MS),
 * else the client caches NOT_FOUND again, for maxAgeMs (5 min) while the stream is healthy.
 */
const open: Watch[] = [];
afterEach(() => open.splice(0).forEach((w) => w.cancel()));

describe("a creation seen on the change feed drops the server's own negative entries", () => {
  const listeners = new Set<(c: StoreChange) => void>();
  const feed: StoreChangeFeed = {
    subscribe: (l) => (listeners.add(l), () => listeners.delete(l)),
    status: () => ({ state: "live", reopenings: 0 }),
  };
  const emit = (c: StoreChange) => listeners.forEach((l) => l(c));
  const memory = createMemoryTokenStore();
  /** Store reads by token hash, per hash (a not-found answer served from the cache reads nothing). */
  const reads = new Map<string, number>();
  const store = new Proxy(memory, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (prop !== "findKeyByHash" || typeof v !== "function") return v;
      return (hash: string) => {
        reads.set(hash, (reads.get(hash) ?? 0) + 1);
        return (v as (h: string) => unknown).call(target, hash);
      };
    },
  });
  // CACHE_TTL_MS long enough that the test never races the negative entry's own expiry.
  const t = useTestApp({
    store,
    changes: feed,
    env: { CACHE_TTL_MS: "30000", WATCH_HEARTBEAT_MS: "50" },
    logLevel: "warn",
  });

  it("a key inserted by another instance: after KEY_CREATED the server answers it active, not NOT_FOUND from its cache", async () => {
    const w = watchGrpc(t.address);
    open.push(w);
    await w.until((m) => m.event.case === "heartbeat");
    // A token asked about before its key exists (e.g. an operator-supplied ADMIN_KEY_FILE key that
    // another instance registers): NOT_FOUND, cached by this server.
    const token = generateToken("api_key", "acme");
    expect((await t.grpc.introspect({ token })).inactiveReason).toBe(InactiveReason.NOT_FOUND);
    // Another unknown token, also cached NOT_FOUND: the creation of the first must not drop it.
    const other = generateToken("api_key", "acme");
    expect((await t.grpc.introspect({ token: other })).inactiveReason).toBe(InactiveReason.NOT_FOUND);
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
    // The feed names the new key's token hash: that not-found entry alone goes.
    emit({ kind: "key_created", keyId: id, tenantId: "acme", tokenHash: hashToken(token) });
    const created = await w.until(
      (m) => m.event.case === "invalidation" && m.event.value.kind === InvalidationKind.KEY_CREATED,
    );
    // Watchers are told ids, never the hash the feed carried.
    const text = JSON.stringify(created, (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v));
    expect(text).toContain(id);
    expect(text).not.toContain(hashToken(token));
    // What a client asks after dropping its NOT_FOUND entry:
    const again = await t.grpc.introspect({ token });
    expect(again.active).toBe(true);
    expect(again.keyId).toBe(id);
    const otherReads = reads.get(hashToken(other));
    expect((await t.grpc.introspect({ token: other })).inactiveReason).toBe(InactiveReason.NOT_FOUND);
    expect(reads.get(hashToken(other))).toBe(otherReads); // still answered from the cache
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
    emit({ kind: "session_created", sessionId: id, tenantId: "acme", tokenHash: hashToken(token) });
    const again = await t.grpc.introspect({ token });
    expect(again.active).toBe(true);
  });
});
