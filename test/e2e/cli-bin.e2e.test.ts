import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot } from "../support/service-process.js";
import { startTestApp, type TestApp } from "../support/test-app.js";
import { spawn } from "node:child_process";
import { runProgram } from "../support/run-program.js";

/**
 * The admin CLI is a real program: `npm run build` compiles it to dist/src/cli/main.js, package.json
 * installs it as `warpflow`, and it runs on production dependencies only. Here it is compiled to a
 * fresh directory whose node_modules holds ONLY the production dependency tree (`npm ls --omit=dev`),
 * then run with plain `node` against a real server.
 */
const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as {
  bin: Record<string, string>;
  dependencies: Record<string, string>;
};
const exec = (file: string, args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) =>
  runProgram(file, args, { ...opts, timeoutMs: 120_000 });

let dir: string;
let t: TestApp;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "wf-cli-"));
  const built = await exec(join(repoRoot, "node_modules/.bin/tsc"), [
    "-p",
    "tsconfig.build.json",
    "--outDir",
    join(dir, "dist"),
  ]);
  expect(built.stderr + built.stdout).toBe("");
  const prod = await exec("npm", ["ls", "--omit=dev", "--all", "--parseable"]);
  for (const path of prod.stdout.split("\n")) {
    const rel = relative(repoRoot, path);
    if (!/^node_modules\/(@[^/]+\/)?[^/@]+$/.test(rel)) continue; // top-level packages; nested ones come with their parent
    mkdirSync(dirname(join(dir, rel)), { recursive: true });
    symlinkSync(path, join(dir, rel));
  }
  copyFileSync(join(repoRoot, "package.json"), join(dir, "package.json")); // as an installed package has it
  t = await startTestApp();
}, 180_000);
afterAll(async () => {
  await t?.close();
});

describe("the warpflow CLI", () => {
  it("is package.json's bin, compiled by the build, with a node shebang", () => {
    expect(pkg.bin).toEqual({ warpflow: "dist/src/cli/main.js" });
    expect(readFileSync(join(dir, pkg.bin.warpflow!), "utf8").split("\n")[0]).toBe("#!/usr/bin/env node");
  });

  it("imports nothing outside the production dependencies (the whole compiled import graph)", () => {
    const seen = new Set<string>();
    const bare = new Set<string>();
    const walk = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const src = readFileSync(file, "utf8");
      for (const m of src.matchAll(
        /(?:^|\n)\s*(?:import|export)\s[^"']*?from\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g,
      )) {
        const spec = (m[1] ?? m[2])!;
        if (spec.startsWith(".")) walk(join(dirname(file), spec));
        else if (!spec.startsWith("node:"))
          bare.add(spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0]!);
      }
    };
    walk(join(dir, pkg.bin.warpflow!));
    expect(seen.size).toBeGreaterThan(5);
    expect([...bare].filter((name) => !(name in pkg.dependencies))).toEqual([]);
  });

  it("runs with plain node on production dependencies only: --version, keys create, keys list, introspect", async () => {
    const version = await exec(process.execPath, [join(dir, pkg.bin.warpflow!), "--version"], { cwd: dir });
    expect(version).toMatchObject({
      code: 0,
      stdout: `${(JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { version: string }).version}\n`,
    });
    const cli = (...args: string[]) =>
      exec(process.execPath, [join(dir, pkg.bin.warpflow!), ...args, "--json"], {
        cwd: dir,
        env: { WARPFLOW_URL: t.baseUrl, WARPFLOW_ADMIN_KEY: t.adminKey },
      });
    const created = await cli("keys", "create", "--tenant", "clibin", "--label", "from dist");
    expect(created.stderr).toBe("");
    const { token, key } = JSON.parse(created.stdout) as { token: string; key: { id: string } };
    expect(token).toMatch(/^wf_clibin_/);
    const listed = JSON.parse((await cli("keys", "list", "--tenant", "clibin")).stdout) as { keys: { id: string }[] };
    expect(listed.keys.map((k) => k.id)).toEqual([key.id]);
    // The token on standard input (a pipe), never on the command line.
    const child = spawn(
      process.execPath,
      [join(dir, pkg.bin.warpflow!), "introspect", "--tenant", "clibin", "--json"],
      {
        cwd: dir,
        env: { ...process.env, WARPFLOW_URL: t.baseUrl },
      },
    );
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stdin.end(token);
    expect(await new Promise((resolve) => child.on("close", resolve))).toBe(0);
    expect(JSON.parse(out)).toMatchObject({ active: true, keyId: key.id });
  });
});
