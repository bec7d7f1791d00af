import { execFile } from "node:child_process";
import { chmodSync, mkdtempSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { writeAdminKeyFile } from "../../src/app/admin-key-file.js";
import { obtainMongo, sayMongoSkipped } from "../support/mongo.js";
import { repoRoot } from "../support/service-process.js";
import { startTestApp, useTestApp } from "../support/test-app.js";

/**
 * The admin CLI (src/cli/main.ts) as users run it (`npm run cli --`, i.e. tsx), a child process per
 * command, against the real service on an ephemeral port: every command, human and --json output,
 * exit codes, where the admin key comes from, and --direct. Each command's effect is checked on the
 * server through gRPC, not only in the CLI's own output.
 */
interface Run {
  code: number;
  stdout: string;
  stderr: string;
}
function cli(args: string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  return new Promise((resolve) => {
    const childEnv: Record<string, string | undefined> = {
      ...process.env,
      WARPFLOW_ADMIN_KEY: undefined,
      ADMIN_KEY_FILE: undefined,
      MONGODB_URI: undefined,
      ...env,
    };
    for (const k of Object.keys(childEnv)) if (childEnv[k] === undefined) delete childEnv[k];
    execFile(
      process.execPath,
      ["--import", "tsx", "src/cli/main.ts", ...args],
      { cwd: repoRoot, env: childEnv as NodeJS.ProcessEnv, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err
          ? typeof (err as { code?: unknown }).code === "number"
            ? (err as { code: number }).code
            : -1
          : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

let env: Record<string, string>;
const json = (r: Run) => {
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Record<string, unknown> & { token: string; key: Record<string, unknown> };
};

const t = useTestApp({ logLevel: "warn" });
beforeAll(async () => {
  env = { WARPFLOW_URL: `http://127.0.0.1:${t.port}`, WARPFLOW_ADMIN_KEY: t.adminKey };
});

describe("CLI: usage and errors", () => {
  it("--help (and no command) prints the usage, exit 0", async () => {
    for (const args of [["--help"], []]) {
      const r = await cli(args);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^usage: warpflow <command> .*npm run cli -- <command>/);
      for (const c of [
        "keys create",
        "keys rotate",
        "keys revoke",
        "keys list",
        "sessions create",
        "sessions revoke",
        "sessions revoke-all",
        "audit list",
        "admin-key create",
        "policy get",
        "policy set",
        "introspect",
      ]) {
        expect(r.stdout).toContain(c);
      }
    }
  });

  it("an unknown command or a missing option is a usage error: exit 2, naming the problem", async () => {
    const unknown = await cli(["keys", "explode"], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown command (the commands are below)");
    expect(unknown.stderr).not.toContain("explode");
    const missing = await cli(["keys", "create", "--label", "x"], env);
    expect(missing).toMatchObject({ code: 2, stderr: expect.stringContaining("keys create: --tenant is required") });
    const badHipaa = await cli(["policy", "set", "--tenant", "acme", "--hipaa", "maybe"], env);
    expect(badHipaa).toMatchObject({ code: 2, stderr: expect.stringContaining("--hipaa must be on or off") });
    const badAction = await cli(["audit", "list", "--tenant", "acme", "--action", "key.explode"], env);
    expect(badAction).toMatchObject({
      code: 2,
      stderr: expect.stringContaining("audit list: unknown --action (e.g. key.rotate"),
    });
    const badLimit = await cli(["audit", "list", "--tenant", "acme", "--limit", "0"], env);
    expect(badLimit).toMatchObject({
      code: 2,
      stderr: expect.stringContaining("--limit must be a positive whole number"),
    });
    const badSince = await cli(["audit", "list", "--tenant", "acme", "--since", "yesterday"], env);
    expect(badSince).toMatchObject({ code: 2, stderr: expect.stringContaining("--since must be an ISO time") });
  });

  it("an option error names the option, never the value given (a token pasted in the wrong place is not echoed)", async () => {
    const token = `wf_acme_${"Q7".repeat(19)}Zz9x`;
    const runs = {
      action: await cli(["audit", "list", "--tenant", "acme", "--action", token], env),
      since: await cli(["audit", "list", "--tenant", "acme", "--since", token], env),
      until: await cli(["audit", "list", "--tenant", "acme", "--until", token], env),
      limit: await cli(["audit", "list", "--tenant", "acme", "--limit", token], env),
      hipaa: await cli(["policy", "set", "--tenant", "acme", "--hipaa", token], env),
      "unknown option": await cli(["keys", "list", "--tenant", "acme", `--${token}`], env),
      "unknown option=value": await cli(["keys", "list", "--tenant", "acme", `--x=${token}`], env),
      "value to a flag": await cli(["keys", "list", "--tenant", "acme", `--json=${token}`], env),
      "unknown command": await cli(["introspect", token], env),
      "command as token": await cli([token], env),
    };
    for (const [what, r] of Object.entries(runs)) {
      expect(r.code, what).toBe(2);
      const leaked = Array.from({ length: token.length - 11 }, (_, i) => token.slice(i, i + 12)).filter((w) =>
        (r.stdout + r.stderr).includes(w),
      );
      expect(leaked, `${what}: ${r.stderr}`).toEqual([]);
    }
    expect(runs.action.stderr).toContain("--action");
    expect(runs.since.stderr).toContain("--since");
    expect(runs.limit.stderr).toContain("--limit");
    expect(runs["value to a flag"].stderr).toContain("--json");
  });

  it("a refused call exits 1 with the server's code, and never echoes the credential", async () => {
    const wrong = "wf_admin_" + "A".repeat(38);
    const r = await cli(["keys", "list", "--tenant", "acme"], { ...env, WARPFLOW_ADMIN_KEY: wrong });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: \[unauthenticated\]/);
    expect(r.stdout + r.stderr).not.toContain(wrong);
    const invalid = await cli(["keys", "create", "--tenant", "Not A Tenant", "--label", "x"], env);
    expect(invalid).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/^error: \[invalid_argument\].*tenant_id/),
    });
  });

  it("no server: exit 1 with an unavailable error", async () => {
    const r = await cli(["keys", "list", "--tenant", "acme"], { ...env, WARPFLOW_URL: "http://127.0.0.1:9" });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: \[unavailable\]/);
  });

  it("no admin key anywhere: exit 2 saying what to set", async () => {
    const r = await cli(["keys", "list", "--tenant", "acme"], {
      WARPFLOW_URL: env.WARPFLOW_URL,
      ADMIN_KEY_FILE: join(tmpdir(), "wf-no-such-dir", "admin-key"),
    });
    expect(r).toMatchObject({ code: 2, stderr: expect.stringContaining("set WARPFLOW_ADMIN_KEY") });
  });
});

describe("CLI: every command, with its effect checked on the server", () => {
  it("keys create / list / rotate / revoke, human and --json", async () => {
    const human = await cli(["keys", "create", "--tenant", "cli-acme", "--label", "CRM Sync"], env);
    expect(human.code, human.stderr).toBe(0);
    const shown =
      /^API key \(shown only once, store it now\):\n {2}(wf_cli-acme_\S+)\n(key_\S+) {2}active {2}wf_cli-acme_\.\.\.\S{4} {2}"CRM Sync"/.exec(
        human.stdout,
      );
    expect(shown, human.stdout).not.toBeNull();
    expect(await t.grpc.introspect({ token: shown![1]! })).toMatchObject({
      active: true,
      tenantId: "cli-acme",
      keyId: shown![2],
    });

    const created = json(await cli(["keys", "create", "--tenant", "cli-acme", "--label", "Zapier", "--json"], env));
    expect(created.token).toMatch(/^wf_cli-acme_/);
    expect(created.key).toMatchObject({ tenantId: "cli-acme", label: "Zapier", status: "KEY_STATUS_ACTIVE" });
    const keyId = created.key.id as string;

    const listed = json(await cli(["keys", "list", "--tenant", "cli-acme", "--json"], env)) as unknown as {
      keys: { id: string }[];
    };
    expect(listed.keys.map((k) => k.id).sort()).toEqual([shown![2]!, keyId].sort());
    expect(JSON.stringify(listed)).not.toContain(created.token); // plaintext only at creation
    const listedHuman = await cli(["keys", "list", "--tenant", "cli-acme"], env);
    expect(listedHuman.stdout).toContain(keyId);

    const rotated = json(
      await cli(["keys", "rotate", "--tenant", "cli-acme", "--key", keyId, "--json"], env),
    ) as unknown as {
      token: string;
      key: { id: string; status: string };
      previousKey: { id: string; status: string; revokeAt: string };
    };
    expect(rotated.previousKey).toMatchObject({ id: keyId, status: "KEY_STATUS_DEPRECATED" });
    expect(await t.grpc.introspect({ token: created.token })).toMatchObject({ active: true, deprecated: true });
    expect(await t.grpc.introspect({ token: rotated.token })).toMatchObject({
      active: true,
      deprecated: false,
      keyId: rotated.key.id,
    });

    const revoked = await cli(["keys", "revoke", "--tenant", "cli-acme", "--key", rotated.key.id], env);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toMatch(new RegExp(`^${rotated.key.id} {2}revoked`));
    expect((await t.grpc.introspect({ token: rotated.token })).active).toBe(false);
  });

  it("sessions create", async () => {
    const s = json(await cli(["sessions", "create", "--tenant", "cli-acme", "--json"], env)) as unknown as {
      token: string;
      tenantId: string;
      expiresAt: string;
    };
    expect(s.token).toMatch(/^sess_cli-acme_/);
    const lifetime = Date.parse(s.expiresAt) - Date.now();
    expect(lifetime).toBeGreaterThan(55 * 60_000);
    expect(lifetime).toBeLessThanOrEqual(60 * 60_000);
    expect(await t.grpc.introspect({ token: s.token })).toMatchObject({ active: true, tenantId: "cli-acme" });
    const human = await cli(["sessions", "create", "--tenant", "cli-acme"], env);
    expect(human.stdout).toMatch(
      /^session token \(shown only once, store it now\):\n {2}sess_cli-acme_\S+\n {2}tenant cli-acme, expires \d{4}-/,
    );
  });

  it("sessions revoke / revoke-all, and audit list shows them (--json)", async () => {
    const a = await t.grpc.createSession({ tenantId: "cli-sess" }, { bearer: t.adminKey });
    const b = await t.grpc.createSession({ tenantId: "cli-sess" }, { bearer: t.adminKey });
    const c = await t.grpc.createSession({ tenantId: "cli-sess" }, { bearer: t.adminKey });
    const one = json(
      await cli(["sessions", "revoke", "--tenant", "cli-sess", "--session", a.sessionId, "--json"], env),
    ) as unknown as { session: { id: string } };
    expect(one.session.id).toBe(a.sessionId);
    expect((await t.grpc.introspect({ token: a.token })).active).toBe(false);
    expect((await t.grpc.introspect({ token: b.token })).active).toBe(true);
    const all = json(await cli(["sessions", "revoke-all", "--tenant", "cli-sess", "--json"], env)) as unknown as {
      revokedCount: number;
    };
    expect(all.revokedCount).toBe(2);
    for (const s of [b, c]) expect((await t.grpc.introspect({ token: s.token })).active).toBe(false);
    const audit = json(await cli(["audit", "list", "--tenant", "cli-sess", "--json"], env)) as unknown as {
      events: { action: string }[];
    };
    expect(audit.events.map((e) => e.action)).toEqual(
      expect.arrayContaining([
        "AUDIT_ACTION_SESSION_REVOKE",
        "AUDIT_ACTION_SESSIONS_REVOKE_ALL",
        "AUDIT_ACTION_SESSION_CREATE",
      ]),
    );
    const onlyRevokes = json(
      await cli(["audit", "list", "--tenant", "cli-sess", "--action", "session.revoke", "--limit", "1", "--json"], env),
    ) as unknown as { events: { action: string }[] };
    expect(onlyRevokes.events.map((e) => e.action)).toEqual(["AUDIT_ACTION_SESSION_REVOKE"]);
  });

  it("admin-key create: a working platform admin key", async () => {
    const r = json(await cli(["admin-key", "create", "--label", "ops on-call", "--json"], env));
    expect(r.token).toMatch(/^wf_admin_/);
    expect(await t.grpc.introspect({ token: r.token })).toMatchObject({ active: true, admin: true });
    expect((await t.grpc.listKeys({ tenantId: "cli-acme" }, { bearer: r.token })).keys.length).toBeGreaterThan(0);
  });

  it("policy set / get", async () => {
    const { token } = json(await cli(["keys", "create", "--tenant", "cli-clinic", "--label", "x", "--json"], env));
    const set = json(
      await cli(["policy", "set", "--tenant", "cli-clinic", "--hipaa", "on", "--json"], env),
    ) as unknown as { policy: { hipaaEnabled: boolean } };
    expect(set.policy).toMatchObject({ tenantId: "cli-clinic", hipaaEnabled: true });
    expect(
      (await t.grpc.getTenantPolicy({ tenantId: "cli-clinic" }, { bearer: t.adminKey })).policy?.hipaaEnabled,
    ).toBe(true);
    expect((await t.grpc.introspect({ token })).active).toBe(false);
    const got = await cli(["policy", "get", "--tenant", "cli-clinic"], env);
    expect(got.stdout).toMatch(/^tenant cli-clinic: hipaa_enabled=true/);
    json(await cli(["policy", "set", "--tenant", "cli-clinic", "--hipaa", "off", "--json"], env));
    expect((await t.grpc.introspect({ token })).active).toBe(true);
  });

  it("introspect (no admin key needed), with and without --tenant", async () => {
    const { token } = await t.grpc.createKey({ tenantId: "cli-intro", label: "x" }, { bearer: t.adminKey });
    const noKey = { WARPFLOW_URL: env.WARPFLOW_URL };
    const r = json(await cli(["introspect", "--token", token, "--tenant", "cli-intro", "--json"], noKey));
    expect(r).toMatchObject({ active: true, tokenType: "TOKEN_TYPE_API_KEY", tenantId: "cli-intro" });
    const other = json(await cli(["introspect", "--token", token, "--tenant", "someone-else", "--json"], noKey));
    expect(other).toMatchObject({ inactiveReason: "INACTIVE_REASON_TENANT_MISMATCH" });
    expect(other.active).toBeUndefined(); // proto JSON omits false
  });

  it("reads the admin key from ADMIN_KEY_FILE (the file the server wrote) when WARPFLOW_ADMIN_KEY is unset", async () => {
    const r = await cli(["keys", "list", "--tenant", "cli-acme", "--json"], {
      WARPFLOW_URL: env.WARPFLOW_URL,
      ADMIN_KEY_FILE: t.adminKeyFile,
    });
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { keys: unknown[] }).keys.length).toBeGreaterThan(0);
  });
});

describe("the admin key file", () => {
  it("the server writes it with mode 0600 in a 0700 directory, holding the bootstrap key", () => {
    expect(statSync(t.adminKeyFile).mode & 0o777).toBe(0o600);
    expect(statSync(join(t.adminKeyFile, "..")).mode & 0o777).toBe(0o700);
  });

  it("writeAdminKeyFile: 0600 whatever the umask, also over an existing world-readable file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "wf-keyfile-"));
    const fresh = join(dir, "sub", "admin-key");
    const old = process.umask(0);
    try {
      await writeAdminKeyFile(fresh, "wf_admin_x");
      expect(statSync(fresh).mode & 0o777).toBe(0o600);
      expect(statSync(join(dir, "sub")).mode & 0o777).toBe(0o700);
      const existing = join(dir, "existing");
      writeFileSync(existing, "old\n");
      chmodSync(existing, 0o644);
      await writeAdminKeyFile(existing, "wf_admin_y");
      expect(statSync(existing).mode & 0o777).toBe(0o600);
    } finally {
      process.umask(old);
    }
  });
});

const mongo = await obtainMongo();
if (!mongo.available) sayMongoSkipped(mongo.reason);

describe("admin-key create --direct", () => {
  it("without MONGODB_URI: refused (exit 1), pointing to the RPC", async () => {
    const r = await cli(["admin-key", "create", "--label", "ops", "--direct"], {});
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("--direct needs MONGODB_URI");
  });

  it.skipIf(!mongo.available)(
    `with MONGODB_URI: creates a working platform admin key in the store, no admin key needed${mongo.available ? "" : ` (SKIPPED: ${mongo.reason})`}`,
    async () => {
      if (!mongo.available) return;
      const dbName = `wf_cli_${process.pid}`;
      const app = await startTestApp({ env: { MONGODB_URI: mongo.uri, MONGODB_DB: dbName }, logLevel: "warn" });
      try {
        const r = json(
          await cli(["admin-key", "create", "--label", "break-glass", "--direct", "--json"], {
            MONGODB_URI: mongo.uri,
            MONGODB_DB: dbName,
          }),
        );
        expect(r.token).toMatch(/^wf_admin_/);
        expect(await app.grpc.introspect({ token: r.token })).toMatchObject({ active: true, admin: true });
      } finally {
        await app.close();
        await mongo.stop();
      }
    },
    60_000,
  );
});
