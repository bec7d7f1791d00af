import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ADMIN_TENANT_ID } from "../../src/domain/tenant-id.js";
import { parseToken } from "../../src/domain/token-format.js";
import { dropDatabase, obtainMongo, sayMongoSkipped, uniqueDbName } from "../support/mongo.js";
import { runCliInProcess } from "../support/cli.js";
import { startTestApp, useTestApp } from "../support/test-app.js";

/**
 * The CLI's server address and the admin-key commands of issue 26 (items 1 and 4): WARPFLOW_URL,
 * else http://localhost:$PORT (inside the server's container PORT is the server's own port); every
 * failure to reach the server names WARPFLOW_URL; `admin-key generate` makes a key offline that the
 * server takes from ADMIN_KEY_FILE; `admin-key list` / `revoke`.
 */
const cli = (args: string[], env: Record<string, string>) =>
  // In this process (the code the binary runs); nothing from the test runner's environment chooses
  // the server, the key or the store.
  runCliInProcess(args, { env: { ADMIN_KEY_FILE: join(tmpdir(), "wf-none", "admin-key"), ...env }, stdin: "" });

let supplied: string;
const t = useTestApp(async () => {
  // The server's first admin key comes from `admin-key generate`, supplied in ADMIN_KEY_FILE.
  const g = await cli(["admin-key", "generate"], { WARPFLOW_URL: "not a url: generate needs no server" });
  expect(g.code, g.stderr).toBe(0);
  supplied = g.stdout.trim();
  const file = join(mkdtempSync(join(tmpdir(), "wf-secret-")), "admin-key");
  writeFileSync(file, `${supplied}\n`, { mode: 0o400 });
  return { env: { ADMIN_KEY_FILE: file }, logLevel: "warn" };
});

describe("CLI server address (issue 26.4)", () => {
  it("without WARPFLOW_URL it dials localhost at PORT", async () => {
    const r = await cli(["keys", "list", "--tenant", ADMIN_TENANT_ID, "--json"], {
      PORT: String(t.port),
      WARPFLOW_ADMIN_KEY: supplied,
    });
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { keys: unknown[] }).keys).toHaveLength(1);
  });

  it("every failure to reach the server names WARPFLOW_URL (set, or unset and built from PORT) and --server: exit 6", async () => {
    const set = await cli(["keys", "list", "--tenant", "acme"], {
      WARPFLOW_URL: "http://127.0.0.1:9",
      WARPFLOW_ADMIN_KEY: supplied,
    });
    expect(set.code).toBe(6);
    expect(set.stderr).toMatch(
      /^error: \[unavailable\] .*\(server http:\/\/127\.0\.0\.1:9 from WARPFLOW_URL; set WARPFLOW_URL or pass --server/,
    );
    const unset = await cli(["keys", "list", "--tenant", "acme"], { PORT: "9", WARPFLOW_ADMIN_KEY: supplied });
    expect(unset.code).toBe(6);
    expect(unset.stderr).toMatch(/^error: \[unavailable\] .*\(server http:\/\/localhost:9 from WARPFLOW_URL unset/);
    const malformed = await cli(["keys", "list", "--tenant", "acme"], {
      WARPFLOW_URL: "localhost:9",
      WARPFLOW_ADMIN_KEY: supplied,
    });
    expect(malformed).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/^error: WARPFLOW_URL must be the server's http:\/\/ or https:\/\/ address/),
    });
    expect(set.stderr + unset.stderr + malformed.stderr).not.toContain(supplied);
  });
});

describe("admin-key generate, list, revoke (issue 26.1)", () => {
  it("generate prints one well-formed admin key, a new one each time, offline", async () => {
    const a = await cli(["admin-key", "generate"], { WARPFLOW_URL: "http://127.0.0.1:9" });
    const b = await cli(["admin-key", "generate", "--json"], {});
    expect(a.code).toBe(0);
    expect(a.stdout).toMatch(/^wf_admin_\w+\n$/);
    expect(parseToken(a.stdout.trim())).toEqual({ kind: "api_key", tenantId: ADMIN_TENANT_ID });
    const token = (JSON.parse(b.stdout) as { token: string }).token;
    expect(parseToken(token)).toEqual({ kind: "api_key", tenantId: ADMIN_TENANT_ID });
    expect(token).not.toBe(a.stdout.trim());
  });

  it("the generated key supplied in ADMIN_KEY_FILE administers the server; list and revoke admin keys", async () => {
    const env = { WARPFLOW_URL: t.baseUrl, WARPFLOW_ADMIN_KEY: supplied };
    const created = await cli(["admin-key", "create", "--label", "second", "--json"], env);
    expect(created.code, created.stderr).toBe(0);
    const second = (JSON.parse(created.stdout) as { key: { id: string } }).key.id;
    const listed = await cli(["admin-key", "list", "--json"], env);
    expect(listed.code, listed.stderr).toBe(0);
    expect((JSON.parse(listed.stdout) as { keys: { id: string }[] }).keys.map((k) => k.id)).toContain(second);
    const revoked = await cli(["admin-key", "revoke", "--key", second, "--json", "--yes"], env);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect((JSON.parse(revoked.stdout) as { key: { status: string } }).key.status).toBe("KEY_STATUS_REVOKED");
  });

  it("list and revoke --direct need MONGODB_URI (break glass on MongoDB)", async () => {
    for (const args of [
      ["admin-key", "list", "--direct"],
      ["admin-key", "revoke", "--key", "key_x", "--direct", "--yes"],
    ]) {
      const r = await cli(args, {});
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("--direct needs MONGODB_URI");
    }
  });
});

const mongo = await obtainMongo();
if (!mongo.available) sayMongoSkipped(mongo.reason);

describe("break glass on MongoDB: a full admin tenant is recovered with --direct (issue 26.1)", () => {
  it.skipIf(!mongo.available)(
    `lists, revokes and creates admin keys directly${mongo.available ? "" : ` (SKIPPED: ${mongo.reason})`}`,
    async () => {
      if (!mongo.available) return;
      const dbName = uniqueDbName("wf_cli_direct");
      const app = await startTestApp({ env: { MONGODB_URI: mongo.uri, MONGODB_DB: dbName }, logLevel: "warn" });
      const db = { MONGODB_URI: mongo.uri, MONGODB_DB: dbName };
      try {
        // Fill the admin tenant (the bootstrap key and two more): create --direct is refused.
        for (const label of ["a", "b"]) await app.grpc.createAdminKey({ label }, { bearer: app.adminKey });
        const full = await cli(["admin-key", "create", "--label", "x", "--direct"], db);
        expect(full.code).toBe(5); // resource_exhausted: limit
        const listed = await cli(["admin-key", "list", "--direct", "--json"], db);
        expect(listed.code, listed.stderr).toBe(0);
        const ids = (JSON.parse(listed.stdout) as { keys: { id: string; status: string }[] }).keys
          .filter((k) => k.status === "KEY_STATUS_ACTIVE")
          .map((k) => k.id);
        expect(ids).toHaveLength(3);
        const revoked = await cli(["admin-key", "revoke", "--key", ids[0]!, "--direct", "--json", "--yes"], db);
        expect(revoked.code, revoked.stderr).toBe(0);
        const created = await cli(["admin-key", "create", "--label", "recovered", "--direct", "--json"], db);
        expect(created.code, created.stderr).toBe(0);
        const token = (JSON.parse(created.stdout) as { token: string }).token;
        expect(await app.grpc.introspect({ token })).toMatchObject({ active: true, admin: true });
      } finally {
        await app.close();
        await dropDatabase(mongo.uri, dbName);
      }
    },
    120_000,
  );
});

afterAll(async () => {
  if (mongo.available) await mongo.stop();
});
