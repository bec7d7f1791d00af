import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestPki, hasOpenssl } from "../support/certs.js";
import { runProgram } from "../support/run-program.js";
import { repoRoot } from "../support/service-process.js";
import { startTestApp, useTestApp, type TestApp } from "../support/test-app.js";

/**
 * The image's parts that can be checked without building it (`npm run test:image` builds and runs
 * it): the HEALTHCHECK script against real servers, the Dockerfile's rules, npm's allowScripts.
 */
const HEALTHCHECK = join(repoRoot, "deploy/container/healthcheck.js");
const dockerfile = readFileSync(join(repoRoot, "Dockerfile"), "utf8");

/** Runs the HEALTHCHECK script with exactly the given environment (plus PATH), as in the image. */
const healthcheck = (env: Record<string, string>) =>
  runProgram(process.execPath, [HEALTHCHECK], {
    env: {
      ...env,
      PORT: env.PORT ?? "",
      OPS_PORT: env.OPS_PORT ?? "",
      TLS_CERT_FILE: env.TLS_CERT_FILE ?? "",
      HOST: "",
    },
  });

describe("HEALTHCHECK script (deploy/container/healthcheck.js)", () => {
  const plain = useTestApp();

  it("plain: /readyz on PORT answers 200 -> exit 0", async () => {
    const r = await healthcheck({ PORT: String(plain.port) });
    expect(r.stdout.trim()).toBe(`http://127.0.0.1:${plain.port}/readyz 200`);
    expect(r.code).toBe(0);
  });

  it("nothing listening -> exit 1", async () => {
    const closed = await startTestApp();
    const port = closed.port;
    await closed.close();
    const r = await healthcheck({ PORT: String(port) });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${port}/readyz `));
  });

  it("OPS_PORT set: asks there over plain HTTP, whatever TLS_CERT_FILE says", async () => {
    const r = await healthcheck({ PORT: "1", OPS_PORT: String(plain.port), TLS_CERT_FILE: "/nonexistent.pem" });
    expect(r.stdout.trim()).toBe(`http://127.0.0.1:${plain.port}/readyz 200`);
    expect(r.code).toBe(0);
  });

  describe.skipIf(!hasOpenssl())("TLS_CERT_FILE set (a server with a certificate of its own CA)", () => {
    let tls: TestApp;
    beforeAll(async () => {
      const pki = createTestPki();
      tls = await startTestApp({ env: { TLS_CERT_FILE: pki.serverCertFile, TLS_KEY_FILE: pki.serverKeyFile } });
    });
    afterAll(() => tls?.close());

    it("asks https on PORT -> exit 0 (the image's former http:// check answered 1 here)", async () => {
      const r = await healthcheck({ PORT: String(tls.port), TLS_CERT_FILE: "/etc/tls/tls.crt" });
      expect(r.stdout.trim()).toBe(`https://127.0.0.1:${tls.port}/readyz 200`);
      expect(r.code).toBe(0);
      const plainAsk = await healthcheck({ PORT: String(tls.port) });
      expect(plainAsk.code).toBe(1);
    });
  });
});

describe("Dockerfile", () => {
  it("has no `# syntax=` line (BuildKit would pull a frontend image: offline builds fail)", () => {
    expect(dockerfile).not.toMatch(/^#\s*syntax\s*=/im);
  });

  it("every npm install checks the tree it made in the same step (npm can exit 0 after failing)", () => {
    const installs = dockerfile.split("\n").filter((l) => /^RUN\b.*\bnpm (ci|install)\b/.test(l));
    expect(installs.length).toBeGreaterThanOrEqual(2);
    for (const line of installs) expect(line, line).toMatch(/&& npm ls\b[^&]*&& test -[dx] node_modules\//);
  });

  it("numeric non-root USER; the VOLUME is the folder of ADMIN_KEY_FILE; HEALTHCHECK runs the script it copies", () => {
    expect(dockerfile).toMatch(/^USER [1-9]\d*:[1-9]\d*$/m);
    const keyFile = /ADMIN_KEY_FILE=(\S+)/.exec(dockerfile)?.[1];
    expect(keyFile).toBeDefined();
    expect(dockerfile).toContain(`VOLUME ["${dirname(keyFile!)}"]`);
    expect(dockerfile).toMatch(/^HEALTHCHECK .* CMD \["node", "healthcheck\.js"\]$/m);
    expect(dockerfile).toMatch(/^COPY deploy\/container\/healthcheck\.js \.\/healthcheck\.js$/m);
    const froms = [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
    expect(new Set(froms).size, "one base image for every stage").toBe(1);
  });
});

/** Every installed package with an install script (npm 11 runs none that allowScripts does not name). */
function packagesWithInstallScripts(dir: string, found = new Set<string>()): Set<string> {
  if (!existsSync(dir)) return found;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name.startsWith(".")) continue;
    const path = join(dir, entry.name);
    if (entry.name.startsWith("@")) {
      packagesWithInstallScripts(path, found);
      continue;
    }
    const manifest = join(path, "package.json");
    if (existsSync(manifest)) {
      const pkg = JSON.parse(readFileSync(manifest, "utf8"));
      const scripts = pkg.scripts ?? {};
      if (scripts.preinstall || scripts.install || scripts.postinstall || existsSync(join(path, "binding.gyp")))
        found.add(pkg.name);
    }
    packagesWithInstallScripts(join(path, "node_modules"), found);
  }
  return found;
}

describe("npm allowScripts", () => {
  it("names every installed package that has an install script (approve or deny: installs are quiet and deliberate)", () => {
    const allow = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")).allowScripts ?? {};
    const withScripts = [...packagesWithInstallScripts(join(repoRoot, "node_modules"))].sort();
    expect(withScripts.length).toBeGreaterThan(0);
    expect(withScripts.filter((name) => !(name in allow))).toEqual([]);
  });
});
