import { spawn } from "node:child_process";
import { beforeAll, describe, expect, it } from "vitest";
import { KeyStatus } from "../../src/gen/warpflow/auth/v1/token_service_pb.js";
import { runCliInProcess, type CliRunOptions } from "../support/cli.js";
import { repoRoot } from "../support/service-process.js";
import { useTestApp } from "../support/test-app.js";

/**
 * Destructive commands (keys revoke, sessions revoke-all, policy set) ask first on a terminal, naming
 * what will happen; --yes skips the question; without a terminal they refuse unless --yes. In this
 * process with a fake terminal, then the real binary through a real pseudo-terminal (util-linux `script`).
 */
let env: Record<string, string>;
const cli = (args: string[], opts: CliRunOptions = {}) =>
  runCliInProcess(args, { ...opts, env: { ...env, ...opts.env } });
const t = useTestApp({ logLevel: "warn" });
const admin = () => ({ bearer: t.adminKey });
beforeAll(() => {
  env = { WARPFLOW_URL: t.baseUrl, WARPFLOW_ADMIN_KEY: t.adminKey };
});
const keyStatus = async (tenantId: string, id: string) =>
  (await t.grpc.listKeys({ tenantId }, admin())).keys.find((k) => k.id === id)!.status;

describe("confirmation on a terminal (fake terminal, in process)", () => {
  it("keys revoke names the key, its label and tenant; 'n' changes nothing (exit 1), 'y' revokes", async () => {
    const k = await t.grpc.createKey({ tenantId: "acme-confirm", label: "CRM Sync" }, admin());
    const args = ["keys", "revoke", "--tenant", "acme-confirm", "--key", k.key!.id];
    const no = await cli(args, { answers: ["n"] });
    expect(no.asked).toEqual([`revoke key ${k.key!.id} (label 'CRM Sync') of acme-confirm now, permanently? [y/N] `]);
    expect(no).toMatchObject({ code: 1, stdout: "", stderr: "error: not confirmed: nothing was changed\n" });
    expect(await keyStatus("acme-confirm", k.key!.id)).toBe(KeyStatus.ACTIVE);
    const enter = await cli(args, { answers: [""] }); // the default is no
    expect(enter.code).toBe(1);
    const yes = await cli(args, { answers: ["y"] });
    expect(yes.code, yes.stderr).toBe(0);
    expect(await keyStatus("acme-confirm", k.key!.id)).toBe(KeyStatus.REVOKED);
  });

  it("without a terminal: refused unless --yes (exit 2, nothing done); --yes asks nothing", async () => {
    const k = await t.grpc.createKey({ tenantId: "acme-pipe", label: "x" }, admin());
    const s = await t.grpc.createSession({ tenantId: "acme-pipe" }, admin());
    const piped = { stdin: "" };
    for (const args of [
      ["keys", "revoke", "--tenant", "acme-pipe", "--key", k.key!.id],
      ["sessions", "revoke-all", "--tenant", "acme-pipe"],
      ["policy", "set", "--tenant", "acme-pipe", "--hipaa", "on"],
    ]) {
      const r = await cli(args, piped);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr).toMatch(/acts at once: confirm on a terminal, or pass --yes/);
    }
    expect(await keyStatus("acme-pipe", k.key!.id)).toBe(KeyStatus.ACTIVE);
    expect((await t.grpc.introspect({ token: s.token })).active).toBe(true);
    expect((await t.grpc.getTenantPolicy({ tenantId: "acme-pipe" }, admin())).policy?.hipaaEnabled).toBe(false);

    const yes = await cli(["sessions", "revoke-all", "--tenant", "acme-pipe", "--yes"], piped);
    expect(yes).toMatchObject({ code: 0, asked: [], stdout: "revoked 1 live sessions of tenant acme-pipe\n" });
    expect((await t.grpc.introspect({ token: s.token })).active).toBe(false);
  });

  it("sessions revoke-all and policy set say what will happen", async () => {
    const all = await cli(["sessions", "revoke-all", "--tenant", "acme-q"], { answers: ["no"] });
    expect(all.asked).toEqual([
      "revoke every live session of acme-q now, permanently? (their users must sign in again) [y/N] ",
    ]);
    const on = await cli(["policy", "set", "--tenant", "acme-q", "--hipaa", "on"], { answers: ["yes"] });
    expect(on.asked[0]).toMatch(/^turn HIPAA mode on for acme-q now\? Every API key of acme-q stops working at once/);
    expect(on.code, on.stderr).toBe(0);
    expect((await t.grpc.getTenantPolicy({ tenantId: "acme-q" }, admin())).policy?.hipaaEnabled).toBe(true);
  });
});

/** The binary (from source) in a real pseudo-terminal: `script` gives it a tty; we type the answer once asked. */
function inPty(args: string[], answer: string, prompt = "[y/N]"): Promise<{ code: number | null; screen: string }> {
  const command = [process.execPath, "--import", "tsx", "src/cli/main.ts", ...args].map((a) => `'${a}'`).join(" ");
  const child = spawn("script", ["-qec", command, "/dev/null"], {
    cwd: repoRoot,
    env: { ...process.env, ...env, NO_COLOR: "1" },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let screen = "";
  let typed = false;
  child.stdout.on("data", (d: Buffer) => {
    screen += d.toString();
    if (!typed && screen.includes(prompt)) {
      typed = true;
      child.stdin.write(`${answer}\r`);
    }
  });
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, screen })));
}

describe("a real pseudo-terminal", () => {
  it("keys revoke asks on the tty: 'n' keeps the key, 'y' revokes it", async () => {
    const k = await t.grpc.createKey({ tenantId: "acme-pty", label: "CRM Sync" }, admin());
    const args = ["keys", "revoke", "--tenant", "acme-pty", "--key", k.key!.id];
    const no = await inPty(args, "n");
    expect(no.screen).toContain(`revoke key ${k.key!.id} (label 'CRM Sync') of acme-pty now, permanently? [y/N]`);
    expect(no.code).toBe(1);
    expect(await keyStatus("acme-pty", k.key!.id)).toBe(KeyStatus.ACTIVE);
    const yes = await inPty(args, "y");
    expect(yes.code, yes.screen).toBe(0);
    expect(yes.screen).toContain(`revoked key ${k.key!.id} (label 'CRM Sync') of acme-pty`);
    expect(await keyStatus("acme-pty", k.key!.id)).toBe(KeyStatus.REVOKED);
  }, 60_000);

  it("introspect on the tty asks for the token and does not echo it", async () => {
    const k = await t.grpc.createKey({ tenantId: "acme-pty", label: "typed" }, admin());
    const r = await inPty(["introspect", "--tenant", "acme-pty"], k.token, "token (not shown): ");
    expect(r.code, r.screen).toBe(0);
    expect(r.screen).toContain(`active: API key of tenant acme-pty, key ${k.key!.id}`);
    expect(r.screen).not.toContain(k.token.slice(-12));
  }, 60_000);
});
