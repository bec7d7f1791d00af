import { chmodSync, mkdtempSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { writeAdminKeyFile } from "../../src/app/admin-key-file.js";
import { buildProgram } from "../../src/cli/program.js";
import { processIo } from "../../src/cli/io.js";
import type { Command } from "commander";
import { obtainMongo, sayMongoSkipped } from "../support/mongo.js";
import { runCliInProcess, type CliRun } from "../support/cli.js";
import { startTestApp, useTestApp } from "../support/test-app.js";

/**
 * The admin CLI (src/cli/program.ts, the code the `warpflow` binary runs) in this process against
 * the real service on an ephemeral port: help, suggestions, refused flags, exit codes by class, every
 * command in table and JSON output, where the admin key comes from, and --direct. Each command's
 * effect is checked on the server through gRPC, not only in the CLI's own output. The binary as a
 * process: test/e2e/cli-bin.e2e.test.ts, cli-terminal.test.ts (a real pseudo-terminal), cli-secrets.test.ts.
 */
let env: Record<string, string>;
const cli = (args: string[], extra: Record<string, string | undefined> = {}, stdin?: string) =>
  runCliInProcess(args, { env: { ...env, ...extra }, stdin: stdin ?? "" });
const json = (r: CliRun) => {
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Record<string, unknown> & { token: string; key: Record<string, unknown> };
};

const t = useTestApp({ logLevel: "warn" });
beforeAll(async () => {
  env = { WARPFLOW_URL: `http://127.0.0.1:${t.port}`, WARPFLOW_ADMIN_KEY: t.adminKey };
});

const leaves = (cmd: Command, path: string[] = []): string[][] =>
  cmd.commands.length ? cmd.commands.flatMap((c) => leaves(c, [...path, c.name()])) : [path];

describe("CLI: help, suggestions, refused flags", () => {
  it("--help (and no command) lists every command and the exit codes; --version prints the package's version", async () => {
    const r = await cli(["--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: warpflow /);
    for (const c of ["keys", "sessions", "policy", "audit", "admin-key", "introspect", "completion"])
      expect(r.stdout).toMatch(new RegExp(`\\n  ${c}\\b`));
    expect(r.stdout).toContain("Exit codes:");
    for (const code of [
      "2  usage",
      "3  not authenticated",
      "4  not found",
      "5  limit or conflict",
      "6  server unavailable",
      "7  introspect",
    ])
      expect(r.stdout).toContain(code);
    const none = await cli([]);
    expect(none.code).toBe(2); // no command: the help, on stderr
    expect(none.stderr).toMatch(/^Usage: warpflow /);
    const version = await cli(["--version"]);
    expect(version).toMatchObject({ code: 0, stdout: `${process.env.npm_package_version ?? "0.1.0"}\n` });
  });

  it("every command has its own help, with an example of itself", async () => {
    const all = leaves(buildProgram(processIo(), { exitCode: 0, closers: [] }));
    expect(all.length).toBeGreaterThanOrEqual(16);
    for (const path of all) {
      const r = await cli([...path, "--help"]);
      expect(r.code, path.join(" ")).toBe(0);
      expect(r.stdout, path.join(" ")).toMatch(new RegExp(`^Usage: warpflow ${path.join(" ")} `));
      const examples = r.stdout.split(/\nExamples?:\n/)[1] ?? "";
      expect(examples, path.join(" ")).toMatch(new RegExp(`^  \\$ .*warpflow ${path.join(" ")}\\b`, "m"));
    }
    const group = await cli(["keys", "--help"]);
    expect(group.stdout).toMatch(/create .*\n.*rotate/s);
  });

  it("a mistyped command or flag gets a suggestion; exit 2", async () => {
    const cmd = await cli(["keys", "lst"]);
    expect(cmd).toMatchObject({ code: 2, stdout: "" });
    expect(cmd.stderr).toContain("unknown command 'lst'\n(Did you mean list?)");
    const flag = await cli(["keys", "list", "--tennant", "acme"]);
    expect(flag).toMatchObject({ code: 2 });
    expect(flag.stderr).toContain("unknown option '--tennant'\n(Did you mean --tenant?)");
    const top = await cli(["sesions", "create"]);
    expect(top.stderr).toContain("(Did you mean sessions?)");
  });

  it("flags that do not apply to a command are refused: exit 2, nothing done", async () => {
    const before = (await t.grpc.listKeys({ tenantId: "cli-flags" }, { bearer: t.adminKey })).keys.length;
    for (const args of [
      ["keys", "list", "--tenant", "cli-flags", "--label", "x"], // --label is for create
      ["keys", "create", "--tenant", "cli-flags", "--label", "x", "--hipaa", "on"],
      ["sessions", "revoke", "--tenant", "cli-flags", "--session", "ses_x", "--yes"], // not destructive
      ["admin-key", "generate", "--server", "http://127.0.0.1:9"], // offline
      ["keys", "create", "--tenant", "cli-flags", "--label", "x", "extra"],
      ["keys", "list", "--tenant", "cli-flags", "--output", "yaml"],
    ]) {
      const r = await cli(args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr, args.join(" ")).toMatch(/^error: /);
    }
    expect((await t.grpc.listKeys({ tenantId: "cli-flags" }, { bearer: t.adminKey })).keys.length).toBe(before);
  });

  it("a missing or bad value is a usage error: exit 2, naming the problem", async () => {
    expect(await cli(["keys", "create", "--label", "x"])).toMatchObject({
      code: 2,
      stderr: expect.stringContaining("keys create: --tenant is required"),
    });
    const badHipaa = await cli(["policy", "set", "--tenant", "acme", "--hipaa", "maybe", "--yes"]);
    expect(badHipaa).toMatchObject({ code: 2, stderr: expect.stringContaining("Allowed choices are on, off") });
    const badAction = await cli(["audit", "list", "--tenant", "acme", "--action", "key.explode"]);
    expect(badAction.stderr).toContain("audit list: unknown --action (e.g. key.rotate");
    expect(badAction.code).toBe(2);
    const badLimit = await cli(["audit", "list", "--tenant", "acme", "--limit", "0"]);
    expect(badLimit).toMatchObject({
      code: 2,
      stderr: expect.stringContaining("--limit must be a positive whole number"),
    });
    const badSince = await cli(["audit", "list", "--tenant", "acme", "--since", "yesterday"]);
    expect(badSince).toMatchObject({ code: 2, stderr: expect.stringContaining("--since must be an ISO time") });
  });

  it("with --output json, errors are JSON too, on stderr", async () => {
    const usage = await cli(["keys", "lst", "--output", "json"]);
    expect(usage.stdout).toBe("");
    expect(JSON.parse(usage.stderr)).toMatchObject({ error: { code: "usage", exitCode: 2 } });
    const server = await cli(["keys", "rotate", "--tenant", "cli-json", "--key", "key_00000000000000000000", "--json"]);
    expect(server.code).toBe(4);
    expect(JSON.parse(server.stderr)).toEqual({
      error: { code: "not_found", message: expect.any(String), exitCode: 4 },
    });
  });

  it("an option error names the option, never the value given (a token pasted in the wrong place is not echoed)", async () => {
    const token = `wf_acme_${"Q7".repeat(19)}Zz9x`;
    const runs = {
      action: await cli(["audit", "list", "--tenant", "acme", "--action", token]),
      since: await cli(["audit", "list", "--tenant", "acme", "--since", token]),
      until: await cli(["audit", "list", "--tenant", "acme", "--until", token]),
      limit: await cli(["audit", "list", "--tenant", "acme", "--limit", token]),
      hipaa: await cli(["policy", "set", "--tenant", "acme", "--hipaa", token]),
      output: await cli(["keys", "list", "--tenant", "acme", "--output", token]),
      "unknown option": await cli(["keys", "list", "--tenant", "acme", `--${token}`]),
      "unknown option=value": await cli(["keys", "list", "--tenant", "acme", `--x=${token}`]),
      "value to a flag": await cli(["keys", "list", "--tenant", "acme", `--json=${token}`]),
      "token as an argument": await cli(["introspect", token]),
      "token as --token": await cli(["introspect", "--token", token]),
      "command as token": await cli([token]),
      "json error": await cli([token, "--json"]),
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
    expect(runs["token as --token"].stderr).toContain("--token takes only '-'");
  });
});

describe("CLI: exit codes by class", () => {
  it("not authenticated 3 (never echoing the credential), not found 4, limit 5, invalid_argument 2", async () => {
    const wrong = "wf_admin_" + "A".repeat(38);
    const unauth = await cli(["keys", "list", "--tenant", "acme"], { WARPFLOW_ADMIN_KEY: wrong });
    expect(unauth.code).toBe(3);
    expect(unauth.stderr).toMatch(/^error: \[unauthenticated\]/);
    expect(unauth.stdout + unauth.stderr).not.toContain(wrong);
    const missing = await cli(["keys", "rotate", "--tenant", "cli-codes", "--key", "key_00000000000000000000"]);
    expect(missing).toMatchObject({ code: 4, stderr: expect.stringMatching(/^error: \[not_found\]/) });
    for (let i = 0; i < 3; i++)
      json(await cli(["keys", "create", "--tenant", "cli-codes", "--label", `k${i}`, "--json"]));
    const full = await cli(["keys", "create", "--tenant", "cli-codes", "--label", "one too many"]);
    expect(full).toMatchObject({ code: 5, stderr: expect.stringMatching(/^error: \[resource_exhausted\]/) });
    const invalid = await cli(["keys", "create", "--tenant", "Not A Tenant", "--label", "x"]);
    expect(invalid).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/^error: \[invalid_argument\].*tenant_id/),
    });
  });

  it("no server: exit 6, naming the address tried and both settings", async () => {
    const r = await cli(["keys", "list", "--tenant", "acme"], { WARPFLOW_URL: "http://127.0.0.1:9" });
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(
      /^error: \[unavailable\] .*\(server http:\/\/127\.0\.0\.1:9 from WARPFLOW_URL; set WARPFLOW_URL or pass --server/,
    );
    const flag = await cli(["keys", "list", "--tenant", "acme", "--server", "http://127.0.0.1:9"], {
      WARPFLOW_URL: env.WARPFLOW_URL,
    });
    expect(flag.code).toBe(6);
    expect(flag.stderr).toContain("(server http://127.0.0.1:9 from --server;");
  });

  it("--server wins over WARPFLOW_URL", async () => {
    const r = await cli(["keys", "list", "--tenant", "acme", "--server", env.WARPFLOW_URL!, "--json"], {
      WARPFLOW_URL: "http://127.0.0.1:9",
    });
    expect(r.code, r.stderr).toBe(0);
    const bad = await cli(["keys", "list", "--tenant", "acme", "--server", "localhost:9"]);
    expect(bad).toMatchObject({
      code: 2,
      stderr: expect.stringContaining("--server must be the server's http:// or https:// address"),
    });
  });

  it("no admin key anywhere: exit 3 saying what to set", async () => {
    const r = await runCliInProcess(["keys", "list", "--tenant", "acme"], {
      env: { WARPFLOW_URL: env.WARPFLOW_URL, ADMIN_KEY_FILE: join(tmpdir(), "wf-no-such-dir", "admin-key") },
    });
    expect(r).toMatchObject({ code: 3, stderr: expect.stringContaining("set WARPFLOW_ADMIN_KEY") });
  });
});
describe("CLI: every command, with its effect checked on the server", () => {
  it("keys create / list / rotate / revoke, table and --json", async () => {
    const human = await cli(["keys", "create", "--tenant", "cli-acme", "--label", "CRM Sync"]);
    expect(human.code, human.stderr).toBe(0);
    const shown =
      /^API key \(shown only once, store it now\):\n {2}(wf_cli-acme_\S+)\n\nID +LABEL +STATE +HINT +CREATED +LAST USED\n(key_\S+) +CRM Sync +active +wf_cli-acme_\.\.\.\S{4} +just now +-\n$/.exec(
        human.stdout,
      );
    expect(shown, human.stdout).not.toBeNull();
    expect(await t.grpc.introspect({ token: shown![1]! })).toMatchObject({
      active: true,
      tenantId: "cli-acme",
      keyId: shown![2],
    });

    const created = json(await cli(["keys", "create", "--tenant", "cli-acme", "--label", "Zapier", "--json"]));
    expect(created.token).toMatch(/^wf_cli-acme_/);
    expect(created.key).toMatchObject({ tenantId: "cli-acme", label: "Zapier", status: "KEY_STATUS_ACTIVE" });
    expect(created.key.createdAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/); // absolute in JSON
    const keyId = created.key.id as string;

    const listed = json(await cli(["keys", "list", "--tenant", "cli-acme", "--json"])) as unknown as {
      keys: { id: string; effectiveState: string }[];
    };
    expect(listed.keys.map((k) => k.id).sort()).toEqual([shown![2]!, keyId].sort());
    expect(listed.keys.map((k) => k.effectiveState)).toEqual(["active", "active"]);
    expect(JSON.stringify(listed)).not.toContain(created.token); // plaintext only at creation

    const rotated = json(
      await cli(["keys", "rotate", "--tenant", "cli-acme", "--key", keyId, "--json"]),
    ) as unknown as {
      token: string;
      key: { id: string; status: string };
      previousKey: { id: string; status: string; revokeAt: string };
    };
    expect(rotated.previousKey).toMatchObject({ id: keyId, status: "KEY_STATUS_DEPRECATED" });
    expect(await t.grpc.introspect({ token: created.token })).toMatchObject({ active: true, deprecated: true });
    expect(await t.grpc.introspect({ token: rotated.token })).toMatchObject({ active: true, keyId: rotated.key.id });

    const revoked = await cli(["keys", "revoke", "--tenant", "cli-acme", "--key", rotated.key.id, "--yes"]);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toContain(`revoked key ${rotated.key.id} (label 'Zapier') of cli-acme`);
    expect((await t.grpc.introspect({ token: rotated.token })).active).toBe(false);
  });

  it("sessions create shows the session id; sessions revoke takes it", async () => {
    const s = json(await cli(["sessions", "create", "--tenant", "cli-acme", "--json"])) as unknown as {
      token: string;
      sessionId: string;
      expiresAt: string;
    };
    expect(s.token).toMatch(/^sess_cli-acme_/);
    const lifetime = Date.parse(s.expiresAt) - Date.now();
    expect(lifetime).toBeGreaterThan(55 * 60_000);
    expect(lifetime).toBeLessThanOrEqual(60 * 60_000);
    const human = await cli(["sessions", "create", "--tenant", "cli-acme"]);
    const m =
      /^session token \(shown only once, store it now\):\n {2}(sess_cli-acme_\S+)\n\nsession (ses_\w{20}) of tenant cli-acme, expires in 59 min\n$/.exec(
        human.stdout,
      );
    expect(m, human.stdout).not.toBeNull();
    expect(await t.grpc.introspect({ token: m![1]! })).toMatchObject({ active: true, sessionId: m![2] });
    const revoked = await cli(["sessions", "revoke", "--tenant", "cli-acme", "--session", m![2]!]);
    expect(revoked.stdout).toMatch(
      new RegExp(
        `^revoked: session ${m![2]} of tenant cli-acme: created just now by key_\\w+, expires in 59 min, revoked just now by key_`,
      ),
    );
    expect((await t.grpc.introspect({ token: m![1]! })).active).toBe(false);
  });

  it("sessions revoke / revoke-all, and audit list shows them (--json)", async () => {
    const a = await t.grpc.createSession({ tenantId: "cli-sess" }, { bearer: t.adminKey });
    const b = await t.grpc.createSession({ tenantId: "cli-sess" }, { bearer: t.adminKey });
    const c = await t.grpc.createSession({ tenantId: "cli-sess" }, { bearer: t.adminKey });
    const one = json(
      await cli(["sessions", "revoke", "--tenant", "cli-sess", "--session", a.sessionId, "--json"]),
    ) as unknown as {
      session: { id: string };
    };
    expect(one.session.id).toBe(a.sessionId);
    expect((await t.grpc.introspect({ token: a.token })).active).toBe(false);
    expect((await t.grpc.introspect({ token: b.token })).active).toBe(true);
    const all = json(await cli(["sessions", "revoke-all", "--tenant", "cli-sess", "--json", "--yes"])) as unknown as {
      revokedCount: number;
    };
    expect(all.revokedCount).toBe(2);
    for (const s of [b, c]) expect((await t.grpc.introspect({ token: s.token })).active).toBe(false);
    const audit = json(await cli(["audit", "list", "--tenant", "cli-sess", "--json"])) as unknown as {
      events: { action: string; time: string }[];
    };
    expect(audit.events.map((e) => e.action)).toEqual(
      expect.arrayContaining([
        "AUDIT_ACTION_SESSION_REVOKE",
        "AUDIT_ACTION_SESSIONS_REVOKE_ALL",
        "AUDIT_ACTION_SESSION_CREATE",
      ]),
    );
    expect(audit.events[0]!.time).toMatch(/^\d{4}-\d\d-\d\dT/);
    const onlyRevokes = json(
      await cli(["audit", "list", "--tenant", "cli-sess", "--action", "session.revoke", "--limit", "1", "--json"]),
    ) as unknown as { events: { action: string }[] };
    expect(onlyRevokes.events.map((e) => e.action)).toEqual(["AUDIT_ACTION_SESSION_REVOKE"]);
  });

  it("admin-key create: a working platform admin key", async () => {
    const r = json(await cli(["admin-key", "create", "--label", "ops on-call", "--json"]));
    expect(r.token).toMatch(/^wf_admin_/);
    expect(await t.grpc.introspect({ token: r.token })).toMatchObject({ active: true, admin: true });
    expect((await t.grpc.listKeys({ tenantId: "cli-acme" }, { bearer: r.token })).keys.length).toBeGreaterThan(0);
  });

  it("policy set / get", async () => {
    const { token } = json(await cli(["keys", "create", "--tenant", "cli-clinic", "--label", "x", "--json"]));
    const set = json(
      await cli(["policy", "set", "--tenant", "cli-clinic", "--hipaa", "on", "--json", "--yes"]),
    ) as unknown as {
      policy: { hipaaEnabled: boolean };
    };
    expect(set.policy).toMatchObject({ tenantId: "cli-clinic", hipaaEnabled: true });
    expect(
      (await t.grpc.getTenantPolicy({ tenantId: "cli-clinic" }, { bearer: t.adminKey })).policy?.hipaaEnabled,
    ).toBe(true);
    expect((await t.grpc.introspect({ token })).active).toBe(false);
    const got = await cli(["policy", "get", "--tenant", "cli-clinic"]);
    expect(got.stdout).toMatch(/^tenant cli-clinic: HIPAA on \(API keys inactive\), updated just now\n$/);
    json(await cli(["policy", "set", "--tenant", "cli-clinic", "--hipaa", "off", "--json", "--yes"]));
    expect((await t.grpc.introspect({ token })).active).toBe(true);
  });

  it("reads the admin key from ADMIN_KEY_FILE (the file the server wrote) when WARPFLOW_ADMIN_KEY is unset", async () => {
    const r = await runCliInProcess(["keys", "list", "--tenant", "cli-acme", "--json"], {
      env: { WARPFLOW_URL: env.WARPFLOW_URL, ADMIN_KEY_FILE: t.adminKeyFile },
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
    const r = await runCliInProcess(["admin-key", "create", "--label", "ops", "--direct"]);
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
          await runCliInProcess(["admin-key", "create", "--label", "break-glass", "--direct", "--json"], {
            env: { MONGODB_URI: mongo.uri, MONGODB_DB: dbName },
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
