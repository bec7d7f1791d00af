import { chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { get as httpsGet } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bufCurl } from "../support/buf-curl.js";
import { waitUntil } from "../support/poll.js";
import { runProgram } from "../support/run-program.js";
import { repoRoot } from "../support/service-process.js";
import { envNamesReadByConfig } from "../deploy/kubernetes-render.js";
import { baseImage, containerTools, freePort, podman, podmanOk, RUN_FLAGS, skipReason } from "./podman.js";

/**
 * `npm run test:image`: builds the base image and the service image with the machine's container
 * tools, then runs it as Kubernetes would: the image's own non-root user, a read-only root
 * filesystem with only the documented mounts (a read-only Secret with the admin key; the image's
 * VOLUME for a minted key), all capabilities dropped, no privilege escalation. STORE=memory is named
 * explicitly: the image defaults to STORE=mongodb and no MongoDB can run here; the embedded store
 * in production is allowed only when asked for by name, as here.
 */
const reason = skipReason();
if (reason) console.log(`test:image skipped: ${reason}`);

const TAG = "localhost/warpflow-token:image-test";
const SHUTDOWN_TIMEOUT_MS = 10_000;
/** podman's own start and stop around the process (runc, conmon): measured well under a second. */
const PODMAN_SLACK_MS = 5_000;
/** The ops listener (issue 27 §5, OPS_PORT) is exercised as the manifests use it once the code reads it. */
const OPS_PORT_READ = envNamesReadByConfig().has("OPS_PORT");
const KUBERNETES_LIKE = [
  "--read-only",
  "--read-only-tmpfs=false",
  "--cap-drop=ALL",
  "--security-opt=no-new-privileges",
];

function httpsStatus(url: string, ca: string): Promise<number> {
  return new Promise((resolve) => {
    const req = httpsGet(url, { ca, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(0));
  });
}

const httpStatus = (url: string) =>
  fetch(url, { signal: AbortSignal.timeout(2000) }).then(
    (r) => r.status,
    () => 0,
  );

describe.skipIf(reason !== undefined)("the container image, run as Kubernetes would", () => {
  const names: string[] = [];
  const figures: Record<string, string> = {};
  let dir = "";
  const t0 = Date.now();

  beforeAll(async () => {
    const tools = containerTools()!;
    const { version, suite } = baseImage();
    let t = Date.now();
    const base = await runProgram("bash", [join(tools, "base-image.sh"), version], {
      env: { SUITE: suite },
      timeoutMs: 600_000,
    });
    if (base.code !== 0) throw new Error(`base-image.sh ${version} (${suite}) failed: ${base.stderr.slice(-2000)}`);
    figures.base = `${((Date.now() - t) / 1000).toFixed(1)} s`;
    t = Date.now();
    const build = await runProgram("bash", [join(tools, "build.sh"), TAG, repoRoot], { timeoutMs: 600_000 });
    if (build.code !== 0) throw new Error(`build.sh failed: ${(build.stdout + build.stderr).slice(-3000)}`);
    figures.build = `${((Date.now() - t) / 1000).toFixed(1)} s`;
    figures.size = await podmanOk(["image", "inspect", "--format", "{{.Size}}", TAG]).then(
      (b) => `${(Number(b) / 1e6).toFixed(0)} MB`,
    );
    dir = mkdtempSync(join(tmpdir(), "wf-image-"));
  });

  afterAll(async () => {
    if (names.length) await podman(["rm", "-f", "-t", "0", ...names]);
    if (dir) rmSync(dir, { recursive: true, force: true });
    figures.total = `${((Date.now() - t0) / 1000).toFixed(1)} s`;
    console.log(`test:image figures: ${JSON.stringify(figures)}`);
  });

  /** Starts the image detached with the Kubernetes-like flags; answers the container name. */
  async function start(label: string, args: string[]): Promise<string> {
    const name = `wf-image-${label}-${process.pid}`;
    names.push(name);
    await podmanOk(["run", "-d", "--name", name, ...RUN_FLAGS, ...KUBERNETES_LIKE, ...args, TAG]);
    return name;
  }

  /** SIGTERM as the kubelet sends it: the process must exit 0 within the drain bound. */
  async function terminate(name: string): Promise<{ code: string; ms: number }> {
    const t = Date.now();
    await podmanOk(["kill", "--signal", "TERM", name]);
    const code = await podmanOk(["wait", name], 60_000);
    return { code, ms: Date.now() - t };
  }

  it("the image runs as a numeric non-root user and declares its state folder and health check", async () => {
    const [image] = JSON.parse(await podmanOk(["image", "inspect", TAG]));
    expect(image.Config.User).toBe("1000:1000");
    expect(Object.keys(image.Config.Volumes ?? {})).toEqual(["/var/lib/warpflow"]);
    expect(image.Healthcheck?.Test).toEqual(["CMD", "node", "healthcheck.js"]);
    expect(image.Config.Env).toEqual(
      expect.arrayContaining(["STORE=mongodb", "ADMIN_KEY_FILE=/var/lib/warpflow/admin-key"]),
    );
  });

  it("plain: operator's admin key from a read-only Secret mount, nothing else writable; readyz, gRPC health, a key created and introspected, HEALTHCHECK, SIGTERM", async () => {
    // The operator's key, made offline by the image's own CLI (as docs/deploy.md tells).
    const adminKey = await podmanOk([
      "run",
      "--rm",
      ...RUN_FLAGS,
      "--read-only",
      TAG,
      "node",
      "dist/src/cli/main.js",
      "admin-key",
      "generate",
    ]);
    expect(adminKey).toMatch(/^wf_admin_[0-9A-Za-z]{38}$/);
    const secret = join(dir, "secret");
    mkdirSync(secret, { mode: 0o755 });
    writeFileSync(join(secret, "admin-key"), `${adminKey}\n`, { mode: 0o400 });
    chownSync(join(secret, "admin-key"), 1000, 1000);

    const port = await freePort();
    const opsPort = OPS_PORT_READ ? await freePort() : undefined;
    const base = `http://127.0.0.1:${port}`;
    const name = await start("plain", [
      ...(opsPort ? ["-e", `OPS_PORT=${opsPort}`] : []),
      "--image-volume=ignore", // Kubernetes ignores VOLUME: only the Secret is mounted
      "-v",
      `${secret}:/var/run/secrets/warpflow:ro`,
      "-e",
      `PORT=${port}`,
      "-e",
      "STORE=memory",
      "-e",
      "ADMIN_KEY_FILE=/var/run/secrets/warpflow/admin-key",
    ]);
    figures.readyPlain = `${await waitUntil(async () => (await httpStatus(`${base}/readyz`)) === 200, 30_000, "/readyz 200", 200)} ms`;
    if (opsPort) {
      for (const path of ["/healthz", "/readyz", "/metrics"]) {
        expect(await httpStatus(`http://127.0.0.1:${opsPort}${path}`), `ops port ${path}`).toBe(200);
      }
    }
    expect(await podmanOk(["exec", name, "id", "-u"])).toBe("1000");
    expect((await podman(["exec", name, "touch", "/app/probe", "/var/lib/warpflow/probe"])).code).not.toBe(0);

    const health = await bufCurl([
      "--protocol",
      "grpc",
      "--http2-prior-knowledge",
      `${base}/grpc.health.v1.Health/Check`,
    ]);
    expect(health.stderr).toBe("");
    expect(JSON.parse(health.stdout)).toEqual({ status: "SERVING" });

    const created = await fetch(`${base}/warpflow.auth.v1.TokenService/CreateKey`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${adminKey}` },
      body: JSON.stringify({ tenantId: "acme", label: "test:image" }),
    });
    expect(created.status).toBe(200);
    const { token } = (await created.json()) as { token: string };
    expect(token).toMatch(/^wf_acme_[0-9A-Za-z]{38}$/);
    const introspected = await bufCurl([
      "--protocol",
      "grpc",
      "--http2-prior-knowledge",
      "-d",
      JSON.stringify({ token, expected_tenant_id: "acme" }),
      `${base}/warpflow.auth.v1.TokenService/Introspect`,
    ]);
    expect(introspected.stderr).toBe("");
    expect(JSON.parse(introspected.stdout)).toMatchObject({
      active: true,
      tokenType: "TOKEN_TYPE_API_KEY",
      tenantId: "acme",
    });

    const metrics = await (await fetch(`${base}/metrics`)).text();
    const rss = /^process_resident_memory_bytes (\d+)/m.exec(metrics)?.[1];
    figures.rssAfterStart = rss ? `${(Number(rss) / 2 ** 20).toFixed(0)} MiB` : "n/a";

    // The HEALTHCHECK command itself, as the image declares it, and that it can say no.
    expect((await podman(["healthcheck", "run", name])).code).toBe(0);
    // Nothing answers where it asks: PORT=1 (and OPS_PORT=1 when the ops port is in use: it asks there first).
    const down = await podman([
      "exec",
      "-e",
      "PORT=1",
      ...(opsPort ? ["-e", "OPS_PORT=1"] : []),
      name,
      "node",
      "healthcheck.js",
    ]);
    expect(down.code).toBe(1);

    const logs = await podman(["logs", name]);
    expect(logs.stdout + logs.stderr).not.toContain(adminKey);
    expect(logs.stdout + logs.stderr).not.toContain(token);

    const { code, ms } = await terminate(name);
    figures.sigtermPlain = `${ms} ms`;
    expect(code).toBe("0");
    expect(ms).toBeLessThan(SHUTDOWN_TIMEOUT_MS + PODMAN_SLACK_MS);
  });

  it("TLS: HEALTHCHECK over https with a self-signed certificate; the key minted into the image's VOLUME (mode 0600); SIGTERM", async () => {
    const tls = join(dir, "tls");
    mkdirSync(tls, { mode: 0o755 });
    const openssl = await runProgram(
      "openssl",
      ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1"]
        .concat(["-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .concat(["-keyout", join(tls, "tls.key"), "-out", join(tls, "tls.crt")]),
    );
    expect(openssl.code, openssl.stderr).toBe(0);
    for (const f of ["tls.key", "tls.crt"]) chownSync(join(tls, f), 1000, 1000);
    const ca = readFileSync(join(tls, "tls.crt"), "utf8");

    const port = await freePort();
    const name = await start("tls", [
      "-v",
      `${tls}:/etc/warpflow/tls:ro`,
      "-e",
      `PORT=${port}`,
      "-e",
      "STORE=memory",
      "-e",
      "TLS_CERT_FILE=/etc/warpflow/tls/tls.crt",
      "-e",
      "TLS_KEY_FILE=/etc/warpflow/tls/tls.key",
    ]);
    const url = `https://127.0.0.1:${port}/readyz`;
    figures.readyTls = `${await waitUntil(async () => (await httpsStatus(url, ca)) === 200, 30_000, "/readyz 200 over TLS", 200)} ms`;
    expect(await httpStatus(`http://127.0.0.1:${port}/readyz`)).not.toBe(200);

    const hc = await podman(["healthcheck", "run", name]);
    expect(hc.code, hc.stdout + hc.stderr).toBe(0);
    expect(await podmanOk(["exec", name, "stat", "-c", "%a %u", "/var/lib/warpflow/admin-key"])).toBe("600 1000");

    const { code, ms } = await terminate(name);
    figures.sigtermTls = `${ms} ms`;
    expect(code).toBe("0");
    expect(ms).toBeLessThan(SHUTDOWN_TIMEOUT_MS + PODMAN_SLACK_MS);
  });
});
