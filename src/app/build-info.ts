// What this process is: the service's version (its package.json, read once at start) and the
// Node.js version, for the warpflow_build_info metric.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const PACKAGE_NAME = "@warpflow/token-service";

/**
 * The version in this service's package.json: the nearest one above this file, from source
 * (src/app) or compiled (dist/src/app, the image's /app). "unknown" when none is found.
 */
export function serviceVersion(from: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  for (let i = 0; i < 5; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: unknown; version?: unknown };
      if (pkg.name === PACKAGE_NAME && typeof pkg.version === "string") return pkg.version;
    } catch {
      // no (readable) package.json here: look one folder up
    }
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return "unknown";
}

export const buildInfo = (): { version: string; node: string } => ({
  version: serviceVersion(),
  node: process.versions.node,
});
