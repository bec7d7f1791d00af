import { beforeAll, describe, expect, it } from "vitest";
import { runCliInProcess, type CliRunOptions } from "../support/cli.js";
import { useTestApp } from "../support/test-app.js";

/**
 * What the CLI prints (in this process, against a real server): aligned tables with relative times,
 * the effective state of every key (tenant policy included, as Introspect sees it), revoking twice,
 * `introspect` in words with exit 7 for an inactive token, colour only on a terminal without NO_COLOR.
 */
let env: Record<string, string>;
const cli = (args: string[], opts: CliRunOptions = {}) =>
  runCliInProcess(args, { stdin: "", ...opts, env: { ...env, ...opts.env } });
const t = useTestApp({ logLevel: "warn" });
const admin = () => ({ bearer: t.adminKey });
beforeAll(() => {
  env = { WARPFLOW_URL: t.baseUrl, WARPFLOW_ADMIN_KEY: t.adminKey };
});

/** The column each header starts at, and the cells of a row cut at those columns. */
function columns(table: string): { header: string[]; rows: string[][] } {
  const [head, ...lines] = table.trimEnd().split("\n");
  const starts = [...head!.matchAll(/\S+( \S+)*/g)].map((m) => m.index);
  const cut = (line: string) => starts.map((s, i) => line.slice(s, starts[i + 1]).trim());
  for (const line of lines)
    for (const s of starts.slice(1))
      expect(line.slice(s - 2, s), `column at ${s} in\n${table}`).toMatch(/^ {2}$|^ \S$|^$/);
  return { header: cut(head!), rows: lines.map(cut) };
}

describe("keys list: one aligned row per key, relative times, the effective state", () => {
  it("active, deprecated until in 71 h, revoked (without 'revoked automatically'), and revoked when the grace has passed", async () => {
    const a = await t.grpc.createKey({ tenantId: "out-acme", label: "CRM Sync" }, admin());
    const b = await t.grpc.createKey(
      { tenantId: "out-acme", label: "a much longer label, Zapier Production" },
      admin(),
    );
    const rotated = await t.grpc.rotateKey({ tenantId: "out-acme", keyId: a.key!.id }, admin());
    await t.grpc.revokeKey({ tenantId: "out-acme", keyId: b.key!.id }, admin());

    const r = await cli(["keys", "list", "--tenant", "out-acme"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toContain("revoked automatically");
    expect(r.stdout).not.toMatch(/\d{4}-\d\d-\d\dT/); // no ISO times in the table
    const { header, rows } = columns(r.stdout);
    expect(header).toEqual(["ID", "LABEL", "STATE", "HINT", "CREATED", "LAST USED"]);
    const row = (id: string) => rows.find((x) => x[0] === id)!;
    expect(row(rotated.key!.id)).toEqual([
      rotated.key!.id,
      "CRM Sync",
      "active",
      expect.stringMatching(/^wf_out-acme_\.\.\./),
      "just now",
      "-",
    ]);
    expect(row(a.key!.id).slice(1, 3)).toEqual(["CRM Sync", "deprecated, revoked in 71 h"]);
    expect(row(b.key!.id).slice(1, 3)).toEqual(["a much longer label, Zapier Production", "revoked just now"]);

    // 73 hours on (the CLI's clock): the deprecated key is revoked, as Introspect answers, whatever the record says.
    const later = await cli(["keys", "list", "--tenant", "out-acme", "--json"], {
      now: new Date(Date.now() + 73 * 3600_000),
    });
    const keys = (
      JSON.parse(later.stdout) as { keys: { id: string; status: string; effectiveState: string; revokeAt?: string }[] }
    ).keys;
    expect(keys.find((k) => k.id === a.key!.id)).toMatchObject({
      status: "KEY_STATUS_DEPRECATED",
      effectiveState: "revoked",
    });
    expect(keys.find((k) => k.id === a.key!.id)!.revokeAt).toMatch(/^\d{4}-\d\d-\d\dT.*Z$/); // absolute in JSON
    const laterTable = await cli(["keys", "list", "--tenant", "out-acme"], {
      now: new Date(Date.now() + 73 * 3600_000),
    });
    expect(columns(laterTable.stdout).rows.find((x) => x[0] === a.key!.id)![2]).toBe("revoked 1 h ago");
  });

  it("under a HIPAA tenant a stored-active key shows inactive by tenant policy, as Introspect answers", async () => {
    const k = await t.grpc.createKey({ tenantId: "out-clinic", label: "EHR" }, admin());
    await t.grpc.setTenantPolicy({ tenantId: "out-clinic", hipaaEnabled: true }, admin());
    expect(await t.grpc.introspect({ token: k.token })).toMatchObject({ active: false });
    expect((await t.grpc.listKeys({ tenantId: "out-clinic" }, admin())).keys[0]!.status).toBe(1); // ACTIVE, as stored
    const table = await cli(["keys", "list", "--tenant", "out-clinic"]);
    expect(columns(table.stdout).rows[0]!.slice(0, 3)).toEqual([k.key!.id, "EHR", "inactive: tenant policy (HIPAA)"]);
    const json = JSON.parse((await cli(["keys", "list", "--tenant", "out-clinic", "--output", "json"])).stdout) as {
      keys: { effectiveState: string; status: string }[];
    };
    expect(json.keys).toEqual([
      expect.objectContaining({ status: "KEY_STATUS_ACTIVE", effectiveState: "inactive_tenant_policy" }),
    ]);
  });
});

describe("keys revoke: twice says so", () => {
  it("the second revoke prints 'already revoked' with the time, exits 0, and changes nothing", async () => {
    const k = await t.grpc.createKey({ tenantId: "out-twice", label: "CRM Sync" }, admin());
    const first = await cli(["keys", "revoke", "--tenant", "out-twice", "--key", k.key!.id, "--yes"]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain(`revoked key ${k.key!.id} (label 'CRM Sync') of out-twice\n`);
    const revokedAt = (await t.grpc.listKeys({ tenantId: "out-twice" }, admin())).keys[0]!.revokedAt;
    const second = await cli(["keys", "revoke", "--tenant", "out-twice", "--key", k.key!.id, "--yes"]);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toMatch(
      new RegExp(`^key ${k.key!.id} of out-twice was already revoked \\(just now, \\d{4}-.*Z\\): nothing changed\\n`),
    );
    const json = JSON.parse(
      (await cli(["keys", "revoke", "--tenant", "out-twice", "--key", k.key!.id, "--json", "--yes"])).stdout,
    ) as {
      alreadyRevoked: boolean;
    };
    expect(json.alreadyRevoked).toBe(true);
    expect((await t.grpc.listKeys({ tenantId: "out-twice" }, admin())).keys[0]!.revokedAt).toEqual(revokedAt);
  });
});

describe("audit list: aligned whatever a code's length", () => {
  it("long codes (PERMISSION_DENIED) do not shift the columns; relative times in the table, ISO in JSON", async () => {
    const k = await t.grpc.createKey({ tenantId: "out-audit", label: "x" }, admin());
    await expect(t.grpc.listKeys({ tenantId: "other" }, { bearer: k.token })).rejects.toThrow();
    await t.grpc.createSession({ tenantId: "out-audit" }, admin());
    const r = await cli(["audit", "list", "--tenant", "out-audit"]);
    expect(r.code, r.stderr).toBe(0);
    const { header, rows } = columns(r.stdout);
    expect(header).toEqual(["WHEN", "ACTION", "OUTCOME", "TARGET", "BY", "VIA", "DETAIL"]);
    expect(rows.map((x) => x.slice(0, 3))).toEqual(
      expect.arrayContaining([
        ["just now", "session.create", "OK"],
        ["just now", "key.create", "OK"],
      ]),
    );
  });
});

describe("introspect: the token on standard input, the answer in words, exit 7 when inactive", () => {
  it("active: prints who it belongs to, exit 0; inactive: the reason, exit 7 (also with --output json)", async () => {
    const k = await t.grpc.createKey({ tenantId: "out-intro", label: "x" }, admin());
    const noKey = { WARPFLOW_URL: t.baseUrl, WARPFLOW_ADMIN_KEY: undefined };
    const active = await cli(["introspect", "--tenant", "out-intro"], { env: noKey, stdin: `${k.token}\n` });
    expect(active).toMatchObject({ code: 0, stdout: `active: API key of tenant out-intro, key ${k.key!.id}\n` });
    const dash = await cli(["introspect", "--token", "-", "--json"], { env: noKey, stdin: k.token });
    expect(JSON.parse(dash.stdout)).toMatchObject({ active: true, tokenType: "TOKEN_TYPE_API_KEY", keyId: k.key!.id });
    const other = await cli(["introspect", "--tenant", "someone-else"], { env: noKey, stdin: k.token });
    expect(other).toMatchObject({ code: 7, stdout: "inactive: it belongs to another tenant than --tenant\n" });
    await t.grpc.revokeKey({ tenantId: "out-intro", keyId: k.key!.id }, admin());
    const revoked = await cli(["introspect", "--json"], { env: noKey, stdin: k.token });
    expect(revoked.code).toBe(7);
    expect(JSON.parse(revoked.stdout)).toMatchObject({ inactiveReason: "INACTIVE_REASON_REVOKED" });
    const malformed = await cli(["introspect"], { env: noKey, stdin: "not-a-token" });
    expect(malformed).toMatchObject({ code: 7, stdout: expect.stringContaining("inactive: not a well-formed token") });
  });

  it("refuses a token on the command line and an empty standard input; asks for it on a terminal", async () => {
    const token = (await t.grpc.createKey({ tenantId: "out-intro2", label: "x" }, admin())).token;
    const argv = await cli(["introspect", "--token", token]);
    expect(argv.code).toBe(2);
    expect(argv.stderr + argv.stdout).not.toContain(token.slice(-20));
    expect(await cli(["introspect"], { stdin: "" })).toMatchObject({
      code: 2,
      stderr: "error: no token on standard input\n",
    });
    expect(await cli(["introspect"], { stdin: `${token}\n${token}\n` })).toMatchObject({ code: 2 });
    const tty = await runCliInProcess(["introspect", "--tenant", "out-intro2"], { env, answers: [token] });
    expect(tty).toMatchObject({ code: 0, asked: ["token (not shown): "], stdout: expect.stringMatching(/^active: /) });
    const nothing = await runCliInProcess(["introspect"], { env, answers: [""] });
    expect(nothing).toMatchObject({ code: 2, stderr: "error: no token given\n" });
  });
});

describe("colour: only on a terminal, never with NO_COLOR", () => {
  it("keys list colours the state on a terminal; not when piped, not with NO_COLOR, not in JSON", async () => {
    await t.grpc.createKey({ tenantId: "out-colour", label: "x" }, admin());
    const ESC = "\u001b[";
    const tty = await cli(["keys", "list", "--tenant", "out-colour"], { stdoutIsTTY: true });
    expect(tty.stdout).toContain(`${ESC}32mactive${ESC}39m`);
    expect(columns(tty.stdout.replaceAll(/\u001b\[\d+m/g, "")).rows[0]![2]).toBe("active"); // aligned as seen (codes not counted)
    expect((await cli(["keys", "list", "--tenant", "out-colour"])).stdout).not.toContain(ESC);
    const noColor = await cli(["keys", "list", "--tenant", "out-colour"], {
      stdoutIsTTY: true,
      env: { NO_COLOR: "1" },
    });
    expect(noColor.stdout).not.toContain(ESC);
    expect(
      (await cli(["keys", "list", "--tenant", "out-colour", "--json"], { stdoutIsTTY: true })).stdout,
    ).not.toContain(ESC);
  });
});
