import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { httpRequest, type HttpAnswer } from "./authz.js";
import { repoRoot } from "./service-process.js";
import { pollUntil } from "./poll.js";

/**
 * Runs the repository's nginx configuration (deploy/nginx/warpflow-edge.conf) with a real nginx:
 * the shipped file, its placeholders replaced in a copy in a temporary prefix directory, nothing
 * else changed. Skipped (with one line saying how to run it) where there is no nginx.
 */
export const SHIPPED_CONFIG = join(repoRoot, "deploy/nginx/warpflow-edge.conf");
export const HOW_TO_RUN_NGINX =
  "install it with `apt-get install -y nginx-light` (Debian: auth_request, http_v2, ssl), or put an nginx with those modules on PATH";

export function findNginx(): string | undefined {
  for (const bin of ["nginx", "/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"]) {
    try {
      execFileSync(bin, ["-v"], { stdio: "ignore" });
      return bin;
    } catch {
      // next
    }
  }
  return undefined;
}

/** A port that was free a moment ago (nginx cannot listen on port 0 and report the port). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

async function waitForPort(
  port: number,
  child: ChildProcess,
  log: () => string,
  name = "nginx",
  timeoutMs = 10_000,
): Promise<void> {
  const listening = await pollUntil(
    async () => {
      if (child.exitCode !== null) throw new Error(`${name} exited with code ${child.exitCode}: ${log()}`);
      return new Promise<boolean>((resolve) => {
        const s = net.connect(port, "127.0.0.1", () => {
          s.destroy();
          resolve(true);
        });
        s.on("error", () => resolve(false));
      });
    },
    timeoutMs,
    25,
  );
  if (!listening) throw new Error(`${name} did not listen on ${port} within ${timeoutMs} ms: ${log()}`);
}

export interface RunningNginx {
  edgePort: number;
  grpcPort: number;
  /** nginx's error log so far. */
  errorLog(): string;
  stop(): Promise<void>;
}

export async function startNginx(
  bin: string,
  values: { app: string; warpflow: string; tlsCert: string; tlsKey: string; callerToken: string },
): Promise<RunningNginx> {
  const prefix = mkdtempSync(join(tmpdir(), "wf-nginx-"));
  chmodSync(prefix, 0o755); // run as root, nginx's workers are "nobody": they create temp files here
  const edgePort = await freePort();
  const grpcPort = await freePort();
  const substitutions: Record<string, string> = {
    __EDGE_PORT__: `127.0.0.1:${edgePort}`,
    __GRPC_PORT__: `127.0.0.1:${grpcPort}`,
    __APP_ADDR__: values.app,
    __WARPFLOW_ADDR__: values.warpflow,
    __TLS_CERT__: values.tlsCert,
    __TLS_KEY__: values.tlsKey,
    __CALLER_TOKEN__: values.callerToken,
  };
  let text = readFileSync(SHIPPED_CONFIG, "utf8");
  for (const [k, v] of Object.entries(substitutions)) text = text.replaceAll(k, v);
  const left = /__[A-Z_]+__/.exec(text.replace(/^\s*#.*$/gm, ""));
  if (left) throw new Error(`placeholder ${left[0]} has no value`);
  const config = join(prefix, "warpflow-edge.conf");
  writeFileSync(config, text);
  const errorLog = join(prefix, "error.log");
  const readLog = () => {
    try {
      return readFileSync(errorLog, "utf8");
    } catch {
      return "";
    }
  };
  let stderr = "";
  const child = spawn(bin, ["-p", `${prefix}/`, "-c", config, "-e", errorLog, "-g", "daemon off;"], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  child.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  try {
    await waitForPort(edgePort, child, () => stderr + readLog());
    await waitForPort(grpcPort, child, () => stderr + readLog());
  } catch (err) {
    child.kill("SIGKILL");
    throw err;
  }
  return {
    edgePort,
    grpcPort,
    errorLog: () => stderr + readLog(),
    async stop() {
      if (child.exitCode === null) child.kill("SIGQUIT"); // graceful shutdown; the master stops its workers
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** What an upstream echo server received. */
export interface SeenRequest {
  method: string;
  /** The request target exactly as the upstream got it (node does not normalise it). */
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface EchoUpstream {
  /** host:port, for the config's __APP_ADDR__. */
  address: string;
  /** Every request received so far, in order. */
  seen: SeenRequest[];
  close(): Promise<void>;
}

/** An upstream "app" behind nginx that records every request it receives and answers 200. */
export async function startEchoUpstream(): Promise<EchoUpstream> {
  const seen: SeenRequest[] = [];
  const server = http.createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => (body += c));
    req.on("end", () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("upstream ok");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    seen,
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

/**
 * Requests through an edge proxy in front of an EchoUpstream, each to a path no other request uses
 * (`<path>/<n>`), with what the upstream got for it (undefined: nothing reached it). `edge` is read
 * per call, since the proxy's port and the upstream are known only once the suite's beforeAll ran.
 */
export function createEdgeCaller(edge: () => { port: number; seen: SeenRequest[] }) {
  let n = 0;
  return async (
    headers: Record<string, string>,
    opts: { path?: string; method?: string; body?: string } = {},
  ): Promise<{ client: HttpAnswer; upstream: SeenRequest | undefined }> => {
    const { port, seen } = edge();
    const path = `${opts.path ?? "/api/orders"}/${++n}`;
    const client = await httpRequest(port, path, { headers, method: opts.method, body: opts.body });
    return { client, upstream: seen.find((s) => s.url === path) };
  };
}

/**
 * Caddy, for the Caddy legs of the edge tests (Debian ships 2.6 with `forward_auth`): the shipped
 * deploy/caddy/Caddyfile, run as is (the file itself, not a copy), parameterised by its environment
 * placeholders. docs/edge-auth.md shows the same file (documentedCaddyfile; a test compares them).
 */
export const SHIPPED_CADDYFILE = join(repoRoot, "deploy/caddy/Caddyfile");
export const HOW_TO_RUN_CADDY = "install it with `apt-get install -y caddy` (Debian: 2.6, with forward_auth)";

export function findCaddy(): string | undefined {
  for (const bin of ["caddy", "/usr/bin/caddy", "/usr/local/bin/caddy"]) {
    try {
      execFileSync(bin, ["version"], { stdio: "ignore" });
      return bin;
    } catch {
      // next
    }
  }
  return undefined;
}

/** The `caddyfile` block of docs/edge-auth.md, exactly as documented. */
export function documentedCaddyfile(): string {
  const doc = readFileSync(join(repoRoot, "docs/edge-auth.md"), "utf8");
  const blocks = [...doc.matchAll(/^```caddyfile\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
  if (blocks.length !== 1) throw new Error(`docs/edge-auth.md has ${blocks.length} caddyfile blocks, expected 1`);
  return blocks[0]!;
}

export interface RunningCaddy {
  port: number;
  log(): string;
  stop(): Promise<void>;
}

export async function startCaddy(
  bin: string,
  values: { app: string; warpflow: string; callerToken: string },
): Promise<RunningCaddy> {
  const dir = mkdtempSync(join(tmpdir(), "wf-caddy-"));
  const port = await freePort();
  const config = SHIPPED_CADDYFILE;
  let output = "";
  // The file's placeholders; HOME and XDG_* point into the temporary directory, so the config
  // Caddy autosaves lands there. No admin endpoint (tests run several Caddys at once).
  const env = {
    ...process.env,
    WARPFLOW_SITE_ADDRESS: `http://:${port}`,
    WARPFLOW_UPSTREAM: values.warpflow,
    WARPFLOW_APP_UPSTREAM: values.app,
    INTROSPECT_CALLER_TOKEN: values.callerToken,
    WARPFLOW_CADDY_ADMIN: "off",
    HOME: dir,
    XDG_CONFIG_HOME: join(dir, "config"),
    XDG_DATA_HOME: join(dir, "data"),
  };
  const child = spawn(bin, ["run", "--config", config, "--adapter", "caddyfile"], {
    stdio: ["ignore", "pipe", "pipe"],
    env,
  });
  child.stdout!.on("data", (c: Buffer) => (output += c.toString()));
  child.stderr!.on("data", (c: Buffer) => (output += c.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  try {
    await waitForPort(port, child, () => output, "caddy");
  } catch (err) {
    child.kill("SIGKILL");
    throw err;
  }
  return {
    port,
    log: () => output,
    async stop() {
      if (child.exitCode === null) child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
