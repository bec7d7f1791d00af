import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { runProgram } from "../support/run-program.js";
import { spawnService, type ServiceProcess } from "../support/service-process.js";
import { readyz } from "../support/probes.js";

/**
 * The real process (`npm start` from source) at start-up (issue 26.2 and 26.3): which store it runs
 * on and says it runs on, when readiness is reached, and how a start that cannot succeed ends:
 * exit 1 and ONE line on stderr naming the setting and what is wrong (never a password).
 */
const running: ServiceProcess[] = [];
afterEach(() => {
  for (const p of running.splice(0)) p.kill();
});

/** Runs the service to its exit; the environment is the test runner's, without a store choice, plus `env`. */
function start(env: Record<string, string>) {
  const dir = mkdtempSync(join(tmpdir(), "wf-start-"));
  return runProgram(process.execPath, ["--import", "tsx", "src/main.ts"], {
    env: {
      HOST: "127.0.0.1",
      PORT: "0",
      ADMIN_KEY_FILE: join(dir, "admin-key"),
      LOG_LEVEL: "info",
      MONGODB_URI: "",
      STORE: "",
      NODE_ENV: "",
      ...env,
    },
    timeoutMs: 30_000,
  });
}

const stderrLines = (s: string) => s.trim().split("\n");
const msg = (l: Record<string, unknown>) => String(l.msg ?? "");

describe("store choice at start (issue 26.2)", () => {
  it("outside production, with no choice: the embedded store, named in the log, the listening line and /readyz; SERVING only after the bootstrap", async () => {
    const p = await spawnService({ env: { MONGODB_URI: "", STORE: "", NODE_ENV: "development" } });
    running.push(p);
    await p.waitForLog((l) => msg(l) === "ready: SERVING");
    const storeLine = p.logs.find((l) => msg(l).startsWith("store:"))!;
    expect(storeLine).toMatchObject({ store: "memory", chosen_by: "default" });
    expect(p.logs.find((l) => msg(l).startsWith("listening"))).toMatchObject({ store: "memory" });
    expect(await readyz(p.port)).toEqual({
      status: 200,
      body: { status: "serving", store: "memory", admin_key: "ok" },
    });
    // Readiness waits for the admin key: the key file is written before SERVING is announced.
    const created = p.logs.findIndex((l) => msg(l).startsWith("no admin key existed"));
    const serving = p.logs.findIndex((l) => msg(l) === "ready: SERVING");
    expect(created).toBeGreaterThanOrEqual(0);
    expect(serving).toBeGreaterThan(created);
  });

  it("in production with no store choice (MONGODB_URI unset or misspelled): exit 1, one line naming STORE", async () => {
    for (const env of [{}, { MONGO_URI: "mongodb://db:27017/" }] as Record<string, string>[]) {
      const r = await start({ NODE_ENV: "production", ...env });
      expect(r.code).toBe(1);
      expect(stderrLines(r.stderr)).toHaveLength(1);
      expect(r.stderr).toMatch(/^config error: STORE: must be set when NODE_ENV=production/);
    }
  });

  it("in production, STORE=mongodb without MONGODB_URI: exit 1, one line naming MONGODB_URI", async () => {
    const r = await start({ NODE_ENV: "production", STORE: "mongodb" });
    expect(r.code).toBe(1);
    expect(stderrLines(r.stderr)).toEqual([
      expect.stringMatching(/^config error: MONGODB_URI: is required when STORE=mongodb/),
    ]);
  });

  it("in production, the embedded store runs only when asked for by name, and says so", async () => {
    const p = await spawnService({ env: { MONGODB_URI: "", NODE_ENV: "production", STORE: "memory" } });
    running.push(p);
    const line = p.logs.find((l) => msg(l).startsWith("store:"))!;
    expect(line).toMatchObject({ store: "memory", chosen_by: "STORE" });
    expect(msg(line)).toContain("STORE=memory in production");
    expect((await readyz(p.port)).body.store).toBe("memory");
  });
});

describe("start-up failures name their cause (issue 26.3)", () => {
  it("an unparsable MONGODB_URI: one line naming MONGODB_URI, without the password", async () => {
    const r = await start({ MONGODB_URI: "mongodb://warp:s3cretPassw0rd@h:99999/" });
    expect(r.code).toBe(1);
    expect(stderrLines(r.stderr)).toEqual([
      expect.stringMatching(/^config error: MONGODB_URI: is not a usable connection string: /),
    ]);
    expect(r.stderr + r.stdout).not.toContain("s3cretPassw0rd");
  });

  it("a missing TLS file: one line naming the setting and the file", async () => {
    const r = await start({ TLS_CERT_FILE: "/nonexistent/cert.pem", TLS_KEY_FILE: "/nonexistent/key.pem" });
    expect(r.code).toBe(1);
    expect(stderrLines(r.stderr)).toEqual([
      "config error: TLS_CERT_FILE: cannot read /nonexistent/cert.pem: no such file (ENOENT)",
    ]);
  });

  it("TLS files that are not PEM: one line naming the TLS settings", async () => {
    const dir = mkdtempSync(join(tmpdir(), "wf-tls-"));
    writeFileSync(join(dir, "cert.pem"), "not a certificate\n");
    writeFileSync(join(dir, "key.pem"), "not a key\n");
    const r = await start({ TLS_CERT_FILE: join(dir, "cert.pem"), TLS_KEY_FILE: join(dir, "key.pem") });
    expect(r.code).toBe(1);
    expect(stderrLines(r.stderr)).toEqual([
      expect.stringMatching(
        /^config error: TLS_CERT_FILE\/TLS_KEY_FILE[^:]*: not a usable PEM certificate and private key \(ERR_OSSL_\w+\)$/,
      ),
    ]);
  });

  it("a PORT already in use: one line naming PORT", async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, "127.0.0.1", r));
    try {
      const port = (taken.address() as AddressInfo).port;
      const r = await start({ PORT: String(port) });
      expect(r.code).toBe(1);
      expect(stderrLines(r.stderr)).toEqual([
        `config error: PORT: ${port} is already in use on 127.0.0.1 (EADDRINUSE)`,
      ]);
    } finally {
      taken.close();
    }
  });

  it("a HOST that does not resolve: one line naming HOST", async () => {
    const r = await start({ HOST: "no-such-host.invalid" });
    expect(r.code).toBe(1);
    expect(stderrLines(r.stderr)).toEqual([
      expect.stringMatching(
        /^config error: HOST: "no-such-host.invalid" cannot be resolved \((ENOTFOUND|EAI_AGAIN)\)$/,
      ),
    ]);
  });
});
