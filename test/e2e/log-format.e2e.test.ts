import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { openLogger } from "../../src/app/logger.js";
import { httpRequest } from "../support/authz.js";
import { pollUntil, within } from "../support/poll.js";
import { metricsText, samples } from "../support/probes.js";
import { repoRoot, spawnService, type ServiceProcess } from "../support/service-process.js";

/**
 * LOG_FORMAT on the real process (`node --import tsx src/main.ts`): `json` (the default) stays one
 * JSON object per line, epoch-ms time and numeric level; `json-iso` has ISO times and level names;
 * `pretty` is pino-pretty's text for a person. In every format no token or admin key appears, after
 * admin calls, Introspect, /authz allowed and denied and a refused admin call (LOG_LEVEL=debug, so
 * the per-call lines are written too). The process also reports warpflow_build_info.
 */
const running: ServiceProcess[] = [];
afterEach(() => {
  for (const p of running.splice(0)) p.kill();
});

const version = (JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { version: string }).version;

/** Calls that put a secret within reach of a log line; returns the secrets. */
async function exercise(port: number, adminKey: string): Promise<string[]> {
  const connect = (method: string, body: unknown, bearer?: string) =>
    httpRequest(port, `/warpflow.auth.v1.TokenService/${method}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) },
      body: JSON.stringify(body),
    });
  const created = await connect("CreateKey", { tenantId: "acme", label: "logs" }, adminKey);
  expect(created.status).toBe(200);
  const token = (JSON.parse(created.body) as { token: string }).token;
  expect((await connect("Introspect", { token })).status).toBe(200);
  expect((await httpRequest(port, "/authz", { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
  const unknown = `wf_acme_${randomBytes(24).toString("base64url")}`;
  expect((await httpRequest(port, "/authz", { headers: { authorization: `Bearer ${unknown}` } })).status).toBe(401);
  expect((await connect("CreateKey", { tenantId: "acme", label: "x" }, token)).status).toBe(403);
  return [token, adminKey, unknown, token.slice(-20), adminKey.slice(-20)];
}

describe("LOG_FORMAT on the real process", () => {
  it("json (default): one JSON object per line, epoch-ms time, numeric level, no secret; build_info", async () => {
    const p = await spawnService({ env: { LOG_LEVEL: "debug", LOG_FORMAT: "" } });
    running.push(p);
    const secrets = await exercise(p.port, p.adminKey);
    await p.waitForLog((l) => l.rpc === "Authorize" && l.code === "unauthenticated");
    const m = await metricsText(p.port);
    expect(samples(m, "warpflow_build_info", { version, node: process.versions.node })).toEqual([1]);
    p.child.kill("SIGTERM");
    await within(p.exited, 15_000, "exit");
    expect(p.logs.length).toBeGreaterThan(10);
    for (const line of p.logs) {
      expect(line.unparsed, String(line.msg)).toBeUndefined();
      expect(typeof line.time).toBe("number");
      expect(typeof line.level).toBe("number");
    }
    const all = p.logs.map((l) => JSON.stringify(l)).join("\n");
    for (const s of secrets) expect(all).not.toContain(s);
  }, 60_000);

  it("json-iso: the same lines with ISO 8601 time and level names", async () => {
    const p = await spawnService({ env: { LOG_FORMAT: "json-iso" } });
    running.push(p);
    const secrets = await exercise(p.port, p.adminKey);
    for (const line of p.logs) {
      expect(line.unparsed).toBeUndefined();
      expect(line.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(["trace", "debug", "info", "warn", "error", "fatal"]).toContain(line.level);
    }
    expect(p.logs.find((l) => String(l.msg).startsWith("listening"))).toMatchObject({ level: "info" });
    const all = p.logs.map((l) => JSON.stringify(l)).join("\n");
    for (const s of secrets) expect(all).not.toContain(s);
  }, 60_000);

  it("pretty: text for a person (pino-pretty), no colour without a terminal, no secret", async () => {
    const dir = mkdtempSync(join(tmpdir(), "wf-pretty-"));
    const adminKeyFile = join(dir, "admin-key");
    const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
      cwd: repoRoot,
      env: {
        ...process.env,
        HOST: "127.0.0.1",
        PORT: "0",
        ADMIN_KEY_FILE: adminKeyFile,
        LOG_LEVEL: "debug",
        LOG_FORMAT: "pretty",
        MONGODB_URI: "",
        STORE: "",
        NODE_ENV: "",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (c: string) => (out += c));
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    let secrets: string[] | undefined;
    try {
      expect(await pollUntil(() => /no admin key existed/.test(out) && /\n\s+port: \d+/.test(out), 20_000, 50)).toBe(
        true,
      );
      const port = Number(/INFO: listening[^\n]*\n\s+port: (\d+)/.exec(out)![1]);
      const adminKey = readFileSync(adminKeyFile, "utf8").trim();
      secrets = await exercise(port, adminKey);
      await pollUntil(() => out.includes("Authorize"), 5000, 50);
      child.kill("SIGTERM");
      expect(await within(exited, 15_000, "exit")).toBe(0);
    } finally {
      child.kill("SIGKILL");
    }
    const lines = out.split("\n").filter((l) => l !== "");
    expect(lines[0]).toMatch(/^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\] (WARN|INFO): /);
    expect(lines.some((l) => l.startsWith("{"))).toBe(false);
    expect(out).toMatch(/INFO: stopped/);
    expect(out).toMatch(/DEBUG: rpc\n(\s+.*\n)*?\s+rpc: "Authorize"/);
    expect(out).not.toContain("\x1b["); // not a terminal: no colour
    expect(secrets).toHaveLength(5);
    for (const s of secrets!) expect(out).not.toContain(s);
  }, 60_000);
});

describe("openLogger", () => {
  it("pretty output is redacted like JSON: a token field is [redacted]", async () => {
    let text = "";
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        text += chunk.toString();
        done();
      },
    });
    const logger = await openLogger("info", "pretty", sink);
    const secret = `wf_acme_${randomBytes(24).toString("base64url")}`;
    logger.info({ token: secret, req: { authorization: `Bearer ${secret}` }, bearer: secret }, "careless line");
    expect(await pollUntil(() => text.includes("careless line"), 2000)).toBe(true);
    expect(text).toContain("[redacted]");
    expect(text).not.toContain(secret);
  });
});
