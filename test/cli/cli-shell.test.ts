import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runCliInProcess } from "../support/cli.js";
import { repoRoot } from "../support/service-process.js";
import { useTestApp } from "../support/test-app.js";

/**
 * The CLI in a shell: completion scripts sourced by bash (and zsh when installed), and no secret on a
 * command line: the token goes in on standard input, and nothing the CLI or npm prints carries it.
 */
const t = useTestApp({ logLevel: "warn" });

const bash = (script: string) =>
  spawnSync("bash", ["-c", script], { cwd: repoRoot, encoding: "utf8", timeout: 60_000 });

describe("warpflow completion bash|zsh", () => {
  it("the binary's bash script sources and registers `warpflow`", () => {
    const r = bash(
      `source <('${process.execPath}' --import tsx src/cli/main.ts completion bash) && complete -p warpflow`,
    );
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("complete -F _warpflow warpflow\n");
  });

  it("completes commands, subcommands and the flags of each command, skipping option values", async () => {
    const script = (await runCliInProcess(["completion", "bash"])).stdout;
    const file = join(mkdtempSync(join(tmpdir(), "wf-compl-")), "warpflow.bash");
    writeFileSync(file, script);
    const complete = (...words: string[]) =>
      bash(
        `source '${file}'; COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${words.length - 1}; _warpflow; echo "\${COMPREPLY[*]}"`,
      ).stdout.trim();
    expect(complete("warpflow", "")).toBe(
      "keys sessions policy audit webhooks admin-key introspect watch completion --version -V --help",
    );
    expect(complete("warpflow", "ke")).toBe("keys");
    expect(complete("warpflow", "keys", "r")).toBe("rotate revoke resume"); // resume: issue 22
    expect(complete("warpflow", "keys", "create", "--te")).toBe("--tenant");
    expect(complete("warpflow", "keys", "create", "--tenant", "acme", "--la")).toBe("--label");
    expect(complete("warpflow", "keys", "revoke", "--y")).toBe("--yes");
    expect(complete("warpflow", "keys", "list", "--y")).toBe(""); // not a destructive command
  });

  const zsh = spawnSync("zsh", ["--version"]).status === 0;
  it.skipIf(!zsh)(
    `the zsh script loads in zsh and completes${zsh ? "" : " (SKIPPED: zsh is not installed)"}`,
    async () => {
      const file = join(mkdtempSync(join(tmpdir(), "wf-compl-")), "_warpflow");
      writeFileSync(file, (await runCliInProcess(["completion", "zsh"])).stdout);
      // Registered through bashcompinit; the function run as _bash_complete runs it (sh emulation).
      const script = [
        `autoload -U compinit && compinit -u && source '${file}' && echo $_comps[warpflow]`,
        'emulate -L sh; COMP_WORDS=(warpflow keys create --tenant acme --la); COMP_CWORD=5; _warpflow; echo "${COMPREPLY[*]}"',
        'COMP_WORDS=(warpflow keys r); COMP_CWORD=2; _warpflow; echo "${COMPREPLY[*]}"',
      ].join("\n");
      const r = spawnSync("zsh", ["-c", script], { encoding: "utf8" });
      expect(r.stdout).toBe("_bash_complete -F _warpflow\n--label\nrotate revoke resume\n");
    },
  );
});

/** Runs a program with `input` on its standard input; resolves with everything it printed. */
function withStdin(file: string, args: string[], input: string, env: Record<string, string>) {
  const child = spawn(file, args, { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));
  child.stdin.end(input);
  return new Promise<{ code: number | null; out: string }>((resolve) =>
    child.on("close", (code) => resolve({ code, out })),
  );
}

describe("no secret on a command line", () => {
  it("`npm run cli -- introspect` takes the token on stdin; nothing npm or the CLI prints contains it", async () => {
    const { token, key } = await t.grpc.createKey({ tenantId: "shell-acme", label: "x" }, { bearer: t.adminKey });
    const env = { WARPFLOW_URL: t.baseUrl, WARPFLOW_ADMIN_KEY: "" };
    const runs = [
      await withStdin("npm", ["run", "cli", "--", "introspect", "--tenant", "shell-acme"], `${token}\n`, env),
      await withStdin("npm", ["run", "cli", "--", "introspect", "--token", "-", "--output", "json"], token, env),
    ];
    expect(runs[0]!.out).toContain(`active: API key of tenant shell-acme, key ${key!.id}`);
    expect(runs[1]!.out).toContain(`"keyId": "${key!.id}"`);
    for (const r of runs) {
      expect(r.code, r.out).toBe(0);
      const windows = Array.from({ length: token.length - 11 }, (_, i) => token.slice(i, i + 12));
      expect(windows.filter((w) => r.out.includes(w))).toEqual([]);
    }
  }, 120_000);

  it("the README never puts a token on a command line", () => {
    const readme = readFileSync(join(repoRoot, "README.md"), "utf8");
    expect(readme.match(/--token(?: |=)(?!-(?:\s|$))\S+/gm) ?? []).toEqual([]);
    expect(readme).not.toMatch(/--token "\$/);
  });
});
