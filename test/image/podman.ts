import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { runProgram, type ProgramResult } from "../support/run-program.js";
import { repoRoot } from "../support/service-process.js";

/**
 * What `npm run test:image` needs from the machine, and the podman calls it makes. The container
 * tools (base-image.sh, build.sh) live in the shared folder beside the checkout; CONTAINER_TOOLS
 * names another folder. The flags every `podman run` needs here come from build.sh's header:
 * runc (crun refuses this machine's cgroups), rlimits at 1024 (they cannot be raised), host network.
 */
export const RUN_FLAGS = [
  "--runtime",
  "runc",
  "--ulimit",
  "nofile=1024:1024",
  "--ulimit",
  "nproc=1024:1024",
  "--network",
  "host",
];

export function containerTools(): string | undefined {
  const candidates = [
    process.env.CONTAINER_TOOLS,
    resolve(repoRoot, "../shared/tools/container"),
    resolve(repoRoot, "../../shared/tools/container"),
    "/work/shared/tools/container",
  ];
  return candidates.find(
    (d): d is string => !!d && existsSync(join(d, "build.sh")) && existsSync(join(d, "base-image.sh")),
  );
}

/** Why the image leg cannot run here, or undefined when it can. */
export function skipReason(): string | undefined {
  if (process.getuid?.() !== 0) return "not root (base-image.sh needs root)";
  for (const bin of ["/usr/bin/podman", "/usr/sbin/runc", "/usr/sbin/debootstrap", "/usr/bin/openssl"]) {
    if (!existsSync(bin)) return `${bin} missing (apt-get install podman runc debootstrap openssl)`;
  }
  if (!containerTools()) return "container tools (base-image.sh, build.sh) not found; set CONTAINER_TOOLS";
  return undefined;
}

/** The Dockerfile's FROM image, e.g. { version: "26.12.1", suite: "trixie" }: the base to build. */
export function baseImage(): { version: string; suite: string } {
  const from = /^FROM node:(\d+\.\d+\.\d+)-(\w+)-slim\b/m.exec(readFileSync(join(repoRoot, "Dockerfile"), "utf8"));
  if (!from) throw new Error("Dockerfile: no `FROM node:<x.y.z>-<suite>-slim` line");
  return { version: from[1]!, suite: from[2]! };
}

export function podman(args: string[], timeoutMs = 60_000): Promise<ProgramResult> {
  return runProgram("podman", args, { timeoutMs });
}

/** Runs podman and throws (with its stderr's tail) unless it exits 0. */
export async function podmanOk(args: string[], timeoutMs = 60_000): Promise<string> {
  const r = await podman(args, timeoutMs);
  if (r.code !== 0) throw new Error(`podman ${args[0]} exited ${r.code}: ${r.stderr.slice(-2000)}`);
  return r.stdout.trim();
}

/** A TCP port free on this host right now (the containers share the host network). */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === "object" && addr ? res(addr.port) : rej(new Error("no port"))));
    });
  });
}
