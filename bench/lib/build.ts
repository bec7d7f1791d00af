import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));

/**
 * Compiles the service and the bench's child processes with tsc (bench/tsconfig.json -> dist/bench),
 * so they run as production does: plain node on tsc output. Type errors elsewhere in the tree do
 * not stop the build (tsc still emits); a failed emit does.
 */
export function buildBench(): void {
  try {
    execFileSync(process.execPath, [`${root}node_modules/typescript/bin/tsc`, "-p", `${root}bench/tsconfig.json`], {
      stdio: "pipe",
    });
  } catch (err) {
    // tsc exits non-zero on type errors (possibly in files other engineers are editing) but still emits.
    if (!existsSync(`${root}dist/bench/bench/service-entry.js`)) throw err;
  }
}
