import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { machine } from "./report.js";

/**
 * Every benchmark run keeps its output: bench/results/<name>.json (committed), so every figure the
 * documentation quotes can be traced to a file (bench/tools/report.ts renders the quoted tables
 * from these files, and test/docs/figures.test.ts checks the documents still match them).
 *
 * <name> is BENCH_RESULT_NAME when set (e.g. `bench-run1`), else `<tool>-<UTC time>`, so no run
 * overwrites another. BENCH_RESULTS_DIR moves the folder (tests).
 */
export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const resultsDir = (): string => process.env.BENCH_RESULTS_DIR ?? join(repoRoot, "bench", "results");

export interface ResultFile<T = unknown> {
  tool: string;
  name: string;
  command: string;
  started_at: string;
  finished_at: string;
  git: { commit: string | null; dirty: boolean | null };
  /** The BENCH_* / SOAK_* knobs the run was started with. */
  env: Record<string, string>;
  machine: ReturnType<typeof machine>;
  result: T;
}

const startedAt = new Date();

function git(): ResultFile["git"] {
  try {
    const commit = execFileSync("git", ["rev-parse", "HEAD"], { cwd: repoRoot, stdio: ["ignore", "pipe", "ignore"] })
      .toString()
      .trim();
    const dirty =
      execFileSync("git", ["status", "--porcelain", "--", "src", "bench", "test"], {
        cwd: repoRoot,
        stdio: ["ignore", "pipe", "ignore"],
      })
        .toString()
        .trim() !== "";
    return { commit, dirty };
  } catch {
    return { commit: null, dirty: null };
  }
}

export function resultName(tool: string, at = startedAt): string {
  const given = process.env.BENCH_RESULT_NAME;
  if (given !== undefined && given !== "") {
    if (!/^[A-Za-z0-9._-]+$/.test(given))
      throw new Error(`BENCH_RESULT_NAME must match [A-Za-z0-9._-]+, got ${JSON.stringify(given)}`);
    return given;
  }
  return `${tool}-${at
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z")}`;
}

/** Writes bench/results/<name>.json and says where on stderr; returns the path. */
export function writeResult<T>(tool: string, result: T): string {
  const name = resultName(tool);
  const file: ResultFile<T> = {
    tool,
    name,
    command: [process.argv0, ...process.argv.slice(1).map((a) => relative(repoRoot, a) || a)].join(" "),
    started_at: startedAt.toISOString(),
    finished_at: new Date().toISOString(),
    git: git(),
    env: Object.fromEntries(
      Object.entries(process.env).filter(([k]) => /^(BENCH|SOAK)_/.test(k)) as [string, string][],
    ),
    machine: machine(),
    result,
  };
  const path = join(resultsDir(), `${name}.json`);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(file, null, 2)}\n`);
  process.stderr.write(`[bench] output kept in ${relative(repoRoot, path) || path}\n`);
  return path;
}
