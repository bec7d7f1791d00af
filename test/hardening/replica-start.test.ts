import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createMemoryTokenStore } from "../../src/adapters/memory/memory-token-store.js";
import { newKeyId } from "../../src/domain/key-rules.js";
import { ADMIN_TENANT_ID } from "../../src/domain/tenant-id.js";
import { generateToken } from "../../src/domain/token-format.js";
import { hashToken } from "../../src/domain/token-hash.js";
import type { TokenStore } from "../../src/ports/token-store.js";
import { createFaultyStore } from "../support/faulty-store.js";
import { pollUntil } from "../support/poll.js";
import { startTestApp, type TestApp } from "../support/test-app.js";
import { readyz } from "../support/probes.js";

/**
 * Several replicas of the service starting at once on one shared store (a MongoDB replica set in
 * production; here one store object that every instance shares, answering each call after a few
 * milliseconds as a networked store does). Issue 26.1.
 */
const apps: TestApp[] = [];
afterEach(async () => {
  for (const a of apps.splice(0)) await a.close().catch(() => undefined);
});

/** A store shared by every instance of a test; each instance closing it must not break the others. */
function sharedStore(): { store: TokenStore; inner: TokenStore } {
  const inner = createMemoryTokenStore();
  const faulty = createFaultyStore(inner, { kind: "delay", ms: () => 2 + Math.random() * 8 });
  return { store: { ...faulty.store, close: async () => undefined }, inner };
}

async function startReplicas(
  n: number,
  store: TokenStore,
  env: (i: number) => Record<string, string> = () => ({}),
  waitReady = true,
): Promise<TestApp[]> {
  const started = await Promise.all(
    Array.from({ length: n }, (_, i) => startTestApp({ store, env: env(i), waitReady })),
  );
  apps.push(...started);
  return started;
}

const activeAdminKeys = async (store: TokenStore) =>
  (await store.listKeys(ADMIN_TENANT_ID, 0)).filter((k) => k.status === "active");

describe("admin bootstrap across replicas (issue 26.1)", () => {
  it("five instances started at once on one store end with exactly one admin key and one key file", async () => {
    const { store, inner } = sharedStore();
    const replicas = await startReplicas(5, store);
    const keys = await activeAdminKeys(inner);
    expect(keys).toHaveLength(1);
    const files = replicas.filter((a) => existsSync(a.adminKeyFile));
    expect(files).toHaveLength(1);
    const token = readFileSync(files[0]!.adminKeyFile, "utf8").trim();
    expect(hashToken(token)).toBe(keys[0]!.tokenHash);
    // Every instance is ready, and the one key administers through any of them.
    for (const a of replicas) {
      expect(await readyz(a.baseUrl)).toEqual({
        status: 200,
        body: { status: "serving", store: "memory", admin_key: "ok" },
      });
      const listed = await a.grpc.listKeys({ tenantId: ADMIN_TENANT_ID }, { bearer: token });
      expect(listed.keys.map((k) => k.id)).toEqual([keys[0]!.id]);
    }
  });

  it("an operator-supplied key (a file mounted from a Secret) is registered once by hash and never rewritten", async () => {
    const { store, inner } = sharedStore();
    const dir = mkdtempSync(join(tmpdir(), "wf-secret-"));
    const file = join(dir, "admin-key");
    const token = generateToken("api_key", ADMIN_TENANT_ID);
    writeFileSync(file, `${token}\n`, { mode: 0o400 });
    const before = statSync(file);
    const replicas = await startReplicas(5, store, () => ({ ADMIN_KEY_FILE: file }));
    expect((await activeAdminKeys(inner)).map((k) => k.tokenHash)).toEqual([hashToken(token)]);
    expect(readFileSync(file, "utf8")).toBe(`${token}\n`);
    expect(statSync(file).mtimeMs).toBe(before.mtimeMs);
    expect(replicas.every((a) => a.app.bootstrapAdminKey === undefined)).toBe(true);
    // One audit event for the registration, not one per replica.
    const events = await inner.listAuditEvents({ tenantId: ADMIN_TENANT_ID, limit: 50 });
    expect(events.filter((e) => e.action === "admin_key.create").map((e) => e.outcome)).toEqual(["ok"]);
    // A restart registers nothing new (idempotent), and the key works.
    const again = await startReplicas(1, store, () => ({ ADMIN_KEY_FILE: file }));
    expect(await activeAdminKeys(inner)).toHaveLength(1);
    await expect(again[0]!.grpc.listKeys({ tenantId: ADMIN_TENANT_ID }, { bearer: token })).resolves.toBeDefined();
    // The log names the file's setting, never its contents.
    expect(replicas.flatMap((a) => a.logs).join("\n")).not.toContain(token);
  });

  it("an instance that needs an admin key and cannot write the key file is NOT ready, says so once, and recovers when a key is stored", async () => {
    const { store, inner } = sharedStore();
    const dir = mkdtempSync(join(tmpdir(), "wf-rofs-"));
    writeFileSync(join(dir, "not-a-dir"), "");
    // A path whose parent is a file: the write fails (ENOTDIR), as on a read-only root filesystem (EROFS).
    const [a] = await startReplicas(1, store, () => ({ ADMIN_KEY_FILE: join(dir, "not-a-dir", "admin-key") }), false);
    expect(await pollUntil(() => a!.logs.some((l) => l.includes('"no admin key:')), 15_000)).toBe(true);
    expect(await readyz(a!.baseUrl)).toEqual({
      status: 503,
      body: { status: "not_serving", store: "memory", admin_key: "missing" },
    });
    const lines = a!.logs.filter((l) => l.includes("no admin key"));
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 50, setting: "ADMIN_KEY_FILE" });
    expect(a!.logs.some((l) => l.includes("ready: SERVING"))).toBe(false);
    expect(await activeAdminKeys(inner)).toEqual([]);
    // Break glass elsewhere (admin-key create --direct): this instance sees the key and turns ready.
    await inner.insertKey(
      {
        id: newKeyId(),
        tenantId: ADMIN_TENANT_ID,
        label: "direct",
        tokenHash: "h",
        hint: "wf_admin_...",
        status: "active",
        createdAt: new Date(),
        createdBy: "cli-direct",
      },
      3,
    );
    expect(await pollUntil(async () => (await readyz(a!.baseUrl)).status === 200, 20_000, 200)).toBe(true);
  });

  it("a supplied file that holds no well-formed admin key is reported (without its contents), not SERVING", async () => {
    const { store } = sharedStore();
    const dir = mkdtempSync(join(tmpdir(), "wf-secret-"));
    const file = join(dir, "admin-key");
    writeFileSync(file, "wf_acme_not-an-admin-key-but-a-secret-anyway\n");
    const [a] = await startReplicas(1, store, () => ({ ADMIN_KEY_FILE: file }), false);
    expect(await pollUntil(() => a!.logs.some((l) => l.includes('"no admin key:')), 15_000)).toBe(true);
    expect((await readyz(a!.baseUrl)).status).toBe(503);
    expect(a!.logs.join("\n")).not.toContain("not-an-admin-key-but-a-secret-anyway");
    expect(readFileSync(file, "utf8")).toBe("wf_acme_not-an-admin-key-but-a-secret-anyway\n");
  });
});
